/**
 * Fault rules injected on demand: a canned status, a delay, a connection reset, or a hang. Rules are
 * checked in order for each request to a matching target; `delay` rules add up and let the request go on,
 * the first `status`/`reset`/`hang` rule that fires answers it.
 */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'

export const FAULT_TARGETS = ['launch', 'token', 'flows', 'execution', 'any'] as const
export type FaultTarget = typeof FAULT_TARGETS[number]
/** What a route declares itself as; 'any' is only a rule-side wildcard. */
export type RouteFaultTarget = Exclude<FaultTarget, 'any'>

const common = {
  target: z.enum(FAULT_TARGETS),
  /** Fires this many times, then the rule is removed; unlimited when absent. */
  times: z.int().positive().optional(),
  /** Chance per matching request, 0..1; always when absent. */
  probability: z.number().min(0).max(1).optional()
}

export const faultRuleSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...common,
    kind: z.literal('status'),
    status: z.int().min(200).max(599),
    /** '' sends an empty body; absent sends the Genesys ErrorBody for that status. */
    body: z.union([z.string(), z.array(z.unknown()), z.record(z.string(), z.unknown())]).optional(),
    retryAfter: z.union([z.number().nonnegative(), z.string()]).optional(),
    headers: z.record(z.string(), z.string()).optional()
  }),
  z.strictObject({ ...common, kind: z.literal('delay'), ms: z.number().nonnegative() }),
  z.strictObject({ ...common, kind: z.literal('reset') }),
  z.strictObject({ ...common, kind: z.literal('hang'), ms: z.number().nonnegative() })
])

export type FaultRule = z.infer<typeof faultRuleSchema>
export type StatusFault = Extract<FaultRule, { kind: 'status' }>
export type ActiveFault = FaultRule & { id: string, fired: number }

export interface FaultControl {
  /** Validates and appends a rule; throws a ZodError on a malformed rule. */
  add (rule: FaultRule): ActiveFault
  remove (id: string): boolean
  clear (): void
  list (): ActiveFault[]
}

export interface FaultDraw {
  delayMs: number
  terminal: ActiveFault | null
  fired: ActiveFault[]
}

export interface FaultEngine extends FaultControl {
  /** Rolls the rules for one request and consumes their `times`. */
  draw (target: RouteFaultTarget): FaultDraw
}

export function createFaultEngine (random: () => number): FaultEngine {
  let rules: ActiveFault[] = []
  return {
    add (rule) {
      const active: ActiveFault = { ...faultRuleSchema.parse(rule), id: randomUUID(), fired: 0 }
      rules.push(active)
      return { ...active }
    },
    remove (id) {
      const before = rules.length
      rules = rules.filter(rule => rule.id !== id)
      return rules.length !== before
    },
    clear () {
      rules = []
    },
    list () {
      return rules.map(rule => ({ ...rule }))
    },
    draw (target) {
      const draw: FaultDraw = { delayMs: 0, terminal: null, fired: [] }
      for (const rule of [...rules]) {
        if (rule.target !== target && rule.target !== 'any') continue
        if (rule.probability !== undefined && !(random() < rule.probability)) continue
        rule.fired++
        if (rule.times !== undefined && rule.fired >= rule.times) rules = rules.filter(other => other !== rule)
        draw.fired.push({ ...rule })
        if (rule.kind === 'delay') {
          draw.delayMs += rule.ms
          continue
        }
        draw.terminal = rule
        break
      }
      return draw
    }
  }
}

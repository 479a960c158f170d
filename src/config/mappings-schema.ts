import { z } from 'zod'
import { parseDuration } from './duration.js'
import { inputTypes } from '../mapping/input-types.js'
import { transformNames } from '../mapping/transforms.js'

const namePattern = /^[a-z0-9][a-z0-9_-]{0,63}$/i
const flowIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const inputNamePattern = /^(Flow\.)?[A-Za-z_][A-Za-z0-9_]*$/

const durationSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value)
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 500ms, 3s, 2m)` })
    return z.NEVER
  }
  return ms
})

const transformSchema = z.union([
  z.enum(transformNames),
  z.strictObject({ truncate: z.number().int().positive() }),
  z.strictObject({ default: z.unknown() })
])

const inputSchema = z.union([
  z.string().min(1).transform(from => ({ from })),
  z.strictObject({
    from: z.string().min(1).optional(),
    value: z.unknown().optional(),
    required: z.boolean().optional(),
    default: z.unknown().optional(),
    type: z.enum(inputTypes as [string, ...string[]]).optional(),
    transform: z.array(transformSchema).optional()
  }).refine(input => (input.from === undefined) !== (input.value === undefined), {
    message: 'give exactly one of "from" (a path in the event) or "value" (a constant)'
  })
])

const stringOrList = z.union([z.string(), z.array(z.string()).min(1)])

export const routeSchema = z.strictObject({
  name: z.string().regex(namePattern, 'route names are letters, digits, "-" and "_" (at most 64)'),
  source: z.string().min(1),
  when: z.strictObject({
    recordType: stringOrList.optional(),
    eventType: stringOrList.optional(),
    /** Matches when any of these fields is in record.changed. */
    changed: z.array(z.string()).min(1).optional(),
    /** Other paths of the normalized event that must equal one of the given values. */
    match: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.union([z.string(), z.number(), z.boolean(), z.null()]))])).optional()
  }).optional(),
  flow: z.strictObject({
    id: z.string().regex(flowIdPattern, 'flow ids are UUIDs such as a1b2c3d4-e5f6-7890-abcd-ef1234567890'),
    version: z.union([z.string().min(1), z.number().transform(String)]).optional()
  }),
  inputs: z.record(z.string().regex(inputNamePattern, 'flow input names are letters, digits and "_", optionally prefixed with "Flow."'), inputSchema)
    .refine(inputs => Object.keys(inputs).length > 0, 'a route maps at least one input'),
  redact: z.array(z.string()).optional(),
  coalesce: durationSchema.optional(),
  trackOutcome: z.boolean().optional(),
  maxAttempts: z.number().int().min(1).max(1000).optional(),
  enabled: z.boolean().optional()
})

export const mappingsFileSchema = z.strictObject({
  sources: z.record(z.string().regex(namePattern, 'source names are letters, digits, "-" and "_" (they become /webhooks/<name>)'), z.looseObject({ type: z.string() })),
  routes: z.array(routeSchema)
})

export type RouteConfig = z.infer<typeof routeSchema>
export type InputConfig = z.infer<typeof inputSchema>
export type MappingsFileContent = z.infer<typeof mappingsFileSchema>

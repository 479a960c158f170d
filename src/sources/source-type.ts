import { z } from 'zod'
import type { SourceAdapter } from './source-adapter.js'
import { parseCidr } from './ip-allow-list.js'

/**
 * Settings every source accepts whatever its type; ingress applies them before the adapter runs.
 */
export const commonSourceSettings = {
  /** CIDR list; requests from other addresses get 403. Empty or absent: everyone. */
  allowIps: z.array(z.string().refine(text => parseCidr(text) !== null, 'an IP address or CIDR range, e.g. 13.108.0.0/14')).optional(),
  /** The public URL the CRM posts to, when it differs from what the service sees (signatures cover it). */
  publicUrl: z.url().optional()
}

/**
 * A kind of CRM source (`type:` in the mappings file): its own settings schema and a factory that
 * binds an adapter to one named, validated entry.
 */
export interface SourceType<Settings extends z.ZodRawShape = z.ZodRawShape> {
  type: string
  /** Keys of this type's entry besides `type` and the common ones. */
  settings: Settings
  create (name: string, config: z.infer<z.ZodObject<Settings>> & { publicUrl?: string | undefined }): SourceAdapter
}

export function defineSourceType<Settings extends z.ZodRawShape> (sourceType: SourceType<Settings>): SourceType<Settings> {
  return sourceType
}

/** The full, strict schema of one `sources.<name>` entry of a given type. */
export function sourceEntrySchema (sourceType: SourceType): z.ZodObject {
  return z.strictObject({
    type: z.literal(sourceType.type),
    ...commonSourceSettings,
    ...sourceType.settings
  })
}

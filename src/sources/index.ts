import type { SourceType } from './source-type.js'
import { genericSource } from './generic.js'
import { salesforceSource } from './salesforce.js'
import { hubspotSource } from './hubspot.js'
import { dynamicsSource } from './dynamics.js'
import { zendeskSource } from './zendesk.js'
import { pipedriveSource } from './pipedrive.js'

/** Every source type an admin can name with `type:` in the mappings file. */
export const sourceTypes: ReadonlyMap<string, SourceType> = new Map<string, SourceType>(
  [genericSource, salesforceSource, hubspotSource, dynamicsSource, zendeskSource, pipedriveSource]
    .map(t => t as unknown as SourceType)
    .map(t => [t.type, t])
)

import type { SandboxFlow } from '../../src/sandbox/genesys-sandbox.js'
import { crmSourceYaml, flowId } from '../helper.js'

export const ivrFlowId = 'b2c3d4e5-f6a7-8901-bcde-f12345678901'

export const ivrFlow: SandboxFlow = {
  id: ivrFlowId,
  name: 'Main IVR',
  type: 'inboundcall',
  publishedVersion: '1.0',
  versions: [{ id: '1.0', inputs: { contactId: 'string' } }]
}

const source = crmSourceYaml

/** One route per kind of mistake, plus one that fits; all on source crm. */
export const brokenMappings = `${source}
routes:
  - name: good
    source: crm
    flow: { id: ${flowId} }
    inputs:
      contactId: record.id
  - name: typo
    source: crm
    flow: { id: ${flowId} }
    inputs:
      contactId: record.id
      emial: record.fields.email
  - name: undeclared
    source: crm
    flow: { id: ${flowId} }
    inputs:
      contactId: record.id
      nickname: { value: Ada }
  - name: wrong-type
    source: crm
    flow: { id: ${flowId} }
    inputs:
      contactId: record.id
      attempts: { from: record.fields.count, type: boolean }
  - name: ivr
    source: crm
    flow: { id: ${ivrFlowId} }
    inputs:
      contactId: record.id
`

/** A single route on the contact flow; inputs without types, so the flow's types apply. */
export function singleRoute (inputs = '      contactId: record.id\n      attempts: record.fields.count', routeOptions = ''): string {
  return `${source}
routes:
  - name: contact-sync
    source: crm
    when: { recordType: Contact }
    flow: { id: ${flowId} }
    inputs:
${inputs}
${routeOptions}
`
}

/**
 * Salesforce Outbound Messages: a SOAP 1.1 `notifications()` call carrying up to 100 `Notification`s,
 * each a snapshot of one record (no diff, no old values).
 *
 * Salesforce signs nothing. What a receiver can check is the `OrganizationId` in the message
 * (compared on its 15-character, case-sensitive form), plus TLS and `allowIps`.
 * The optional `SessionId` is a live API session: it is dropped here and never stored, logged or echoed.
 *
 * @see https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_wsdl.htm
 * @see https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_security.htm
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { z } from 'zod'
import type { NormalizedEvent, SourceEvent } from './normalized-event.js'
import { SourceRejection, type IncomingWebhook, type SourceAdapter, type SourceReply } from './source-adapter.js'
import { defineSourceType } from './source-type.js'
import { safeEqual } from './webhook-auth.js'
import { toIsoTime } from './json-body.js'

/** The WSDL's `maxOccurs` for `Notification`. */
const MAX_NOTIFICATIONS = 100

const XML_CONTENT_TYPE = 'text/xml; charset=utf-8'

/** The acknowledgement from the WSDL, byte for byte as Salesforce's docs and Microsoft's receiver send it. */
export const SALESFORCE_ACK = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">
   <Ack>true</Ack>
  </notificationsResponse>
 </soapenv:Body>
</soapenv:Envelope>`

/** A SOAP 1.1 Fault: `Client` for a refused message, `Server` when the bridge failed (ingress's 503). */
export function soapFault (statusCode: number, reason: string): string {
  const faultcode = statusCode >= 500 ? 'soapenv:Server' : 'soapenv:Client'
  return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <soapenv:Fault>
   <faultcode>${faultcode}</faultcode>
   <faultstring>${escapeXml(reason)}</faultstring>
  </soapenv:Fault>
 </soapenv:Body>
</soapenv:Envelope>`
}

function escapeXml (text: string): string {
  return text.replace(/[<>&"']/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c)
}

interface Notification {
  id: string
  sObjectType: string | null
  fields: Record<string, unknown>
}

interface OutboundMessage {
  organizationId: string
  actionId: string | null
  enterpriseUrl: string | null
  partnerUrl: string | null
  sessionIdPresent: boolean
  notifications: Notification[]
}

const NOTIFICATION_PATH = 'Envelope.Body.notifications.Notification'

// Entities are decoded by `decodeXmlText` below, not by the parser: DOCTYPEs are refused outright,
// so only the five predefined entities and character references can occur, and CDATA stays literal.
const parser = new XMLParser({
  ignoreAttributes: false,
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  cdataPropName: '#cdata',
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (_name, jPath) => jPath === NOTIFICATION_PATH
})

function decodeXmlText (text: string): string {
  return text.replace(/&(?:#(\d{1,7})|#x([0-9a-fA-F]{1,6})|(lt|gt|amp|quot|apos));/g, (whole, dec?: string, hex?: string, named?: string) => {
    if (named !== undefined) return { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[named] ?? whole
    const code = dec !== undefined ? Number(dec) : Number.parseInt(hex ?? '', 16)
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole
  })
}

function isNode (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isNil (node: Record<string, unknown>): boolean {
  const nil = node['@_nil']
  return nil === 'true' || nil === '1'
}

function childNames (node: Record<string, unknown>): string[] {
  return Object.keys(node).filter(key => !key.startsWith('@_') && key !== '#text' && key !== '#cdata')
}

/** Text content of a leaf element; null for `xsi:nil` or an element with children. */
function textOf (node: unknown): string | null {
  if (typeof node === 'string') return decodeXmlText(node)
  if (!isNode(node) || isNil(node) || childNames(node).length > 0) return null
  const text = typeof node['#text'] === 'string' ? decodeXmlText(node['#text']) : ''
  const cdata = typeof node['#cdata'] === 'string' ? node['#cdata'] : ''
  return text + cdata
}

/** An sObject field: text as sent (Salesforce's xsd lexical form), `xsi:nil` → null, nested elements → objects. */
function fieldValue (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(fieldValue)
  if (isNode(node)) {
    if (isNil(node)) return null
    const children = childNames(node)
    if (children.length > 0) return Object.fromEntries(children.map(name => [name, fieldValue(node[name])]))
  }
  return textOf(node)
}

function malformed (message: string): SourceRejection {
  return new SourceRejection(400, 'malformed_body', message)
}

function readNotification (node: unknown, index: number): Notification {
  if (!isNode(node)) throw malformed(`Notification ${index} is not an element`)
  const id = textOf(node.Id)
  if (id === null || id.trim() === '') throw new SourceRejection(400, 'missing_event_id', `Notification ${index} has no Id`)
  const sObject = node.sObject
  // A record deleted before delivery arrives with no data (Salesforce "Understanding Notifications").
  if (!isNode(sObject)) return { id: id.trim(), sObjectType: null, fields: {} }
  const xsiType = typeof sObject['@_type'] === 'string' ? sObject['@_type'] : null
  const sObjectType = xsiType === null ? null : xsiType.slice(xsiType.indexOf(':') + 1)
  const fields = Object.fromEntries(childNames(sObject).map(name => [name, fieldValue(sObject[name])]))
  return { id: id.trim(), sObjectType: sObjectType === '' ? null : sObjectType, fields }
}

function optionalText (node: unknown): string | null {
  const text = textOf(node)?.trim()
  return text === undefined || text === '' ? null : text
}

export function parseOutboundMessage (rawBody: Buffer): OutboundMessage {
  const xml = rawBody.toString('utf8')
  if (xml.trim() === '') throw malformed('empty body')
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new SourceRejection(400, 'malformed_body', 'DOCTYPE and entity declarations are not accepted')
  const validation = XMLValidator.validate(xml)
  // Only the code and position: the validator's own message can quote the document.
  if (validation !== true) throw malformed(`body is not well-formed XML (${validation.err.code} at line ${validation.err.line})`)
  let document: unknown
  try {
    document = parser.parse(xml)
  } catch {
    throw malformed('body is not a parseable XML document')
  }
  const envelope = isNode(document) ? document.Envelope : undefined
  const body = isNode(envelope) ? envelope.Body : undefined
  const message = isNode(body) ? body.notifications : undefined
  if (!isNode(message)) throw malformed('no soapenv:Envelope/soapenv:Body/notifications element')

  const organizationId = optionalText(message.OrganizationId)
  if (organizationId === null) throw malformed('no OrganizationId in the message')
  const list = Array.isArray(message.Notification) ? message.Notification : []
  if (list.length === 0) throw malformed('no Notification in the message')
  if (list.length > MAX_NOTIFICATIONS) throw new SourceRejection(400, 'too_many_events', `${list.length} notifications; Salesforce sends at most ${MAX_NOTIFICATIONS}`)
  const sessionId = message.SessionId
  return {
    organizationId,
    actionId: optionalText(message.ActionId),
    enterpriseUrl: optionalText(message.EnterpriseUrl),
    partnerUrl: optionalText(message.PartnerUrl),
    sessionIdPresent: sessionId !== undefined && optionalText(sessionId) !== null,
    notifications: list.map(readNotification)
  }
}

export const salesforceSource = defineSourceType({
  type: 'salesforce',
  settings: {
    /** 15- or 18-character org id (Setup → Company Information → Salesforce.com Organization ID). */
    organizationId: z.string().regex(/^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/, 'a 15- or 18-character Salesforce organization id')
  },
  create (name, config): SourceAdapter {
    // The 18-char form only appends a case-insensitive checksum to the case-sensitive 15-char id.
    const expectedOrg = config.organizationId.slice(0, 15)
    // authenticate must parse to find the org id; parse reuses that work for the same body.
    const parsed = new WeakMap<Buffer, OutboundMessage>()
    const messageOf = (req: IncomingWebhook): OutboundMessage => {
      let message = parsed.get(req.rawBody)
      if (message === undefined) {
        message = parseOutboundMessage(req.rawBody)
        parsed.set(req.rawBody, message)
      }
      return message
    }

    const toEvent = (message: OutboundMessage, notification: Notification): SourceEvent => {
      const { fields } = notification
      const modstamp = fields.SystemModstamp ?? fields.LastModifiedDate
      const event: NormalizedEvent = {
        event: {
          id: notification.id,
          occurredAt: typeof modstamp === 'string' ? toIsoTime(modstamp) : null,
          type: message.actionId
        },
        record: {
          type: notification.sObjectType,
          id: typeof fields.Id === 'string' && fields.Id !== '' ? fields.Id : null,
          fields,
          changed: null
        },
        raw: {
          OrganizationId: message.organizationId,
          ActionId: message.actionId,
          EnterpriseUrl: message.enterpriseUrl,
          PartnerUrl: message.partnerUrl,
          sessionIdPresent: message.sessionIdPresent,
          Id: notification.id,
          sObjectType: notification.sObjectType,
          sObject: fields
        },
        source: { name, type: 'salesforce' }
      }
      return { dedupeKey: notification.id, event }
    }

    return {
      name,
      type: 'salesforce',
      contentTypes: ['text/xml', 'application/xml', 'application/soap+xml'],
      authenticate (req) {
        const message = messageOf(req)
        if (!safeEqual(message.organizationId.slice(0, 15), expectedOrg)) {
          throw new SourceRejection(403, 'wrong_organization', 'OrganizationId is not the one configured for this source')
        }
      },
      parse (req) {
        const message = messageOf(req)
        return message.notifications.map(notification => toEvent(message, notification))
      },
      reply (): SourceReply {
        return { statusCode: 200, contentType: XML_CONTENT_TYPE, body: SALESFORCE_ACK }
      },
      errorReply (rejection): SourceReply {
        return { statusCode: rejection.statusCode, contentType: XML_CONTENT_TYPE, body: soapFault(rejection.statusCode, rejection.message) }
      }
    }
  }
})

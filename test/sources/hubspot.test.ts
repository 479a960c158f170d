import t from 'tap'
import { decodeV3Uri, hubspotSource } from '../../src/sources/hubspot.js'
import { SourceRejection } from '../../src/sources/source-adapter.js'
import { adapterFor, emptySummary, fixture, fixtureJson, hmacBase64, ingest, rejectionOf, sha256Hex, webhook, type WebhookInit } from './helpers.js'

// The app secret of HubSpot's published vectors (docs FAQ and both official SDKs' tests).
const VECTOR_SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy'
const VECTOR_URL = 'https://www.example.com/webhook_uri'
const SECRET = 'app-client-secret-for-tests'
const PUBLIC_URL = 'https://bridge.example.com/webhooks/hubspot'
const NOW = new Date('2024-05-02T09:30:20Z')

const adapter = adapterFor(hubspotSource, 'hubspot', { clientSecret: SECRET, publicUrl: PUBLIC_URL })

function signedV3 (body: string | Buffer, timestamp = String(NOW.getTime() - 2000), init: WebhookInit = {}) {
  return webhook({
    url: '/webhooks/hubspot',
    publicUrl: PUBLIC_URL,
    receivedAt: NOW,
    body,
    ...init,
    headers: {
      'content-type': 'application/json',
      'x-hubspot-signature-v3': hmacBase64(SECRET, 'POST', PUBLIC_URL, body, timestamp),
      'x-hubspot-request-timestamp': timestamp,
      ...init.headers
    }
  })
}

t.test('published vectors', async t => {
  t.test('v3 (hubspot-api-python)', async t => {
    const v3 = adapterFor(hubspotSource, 'hubspot', { clientSecret: VECTOR_SECRET, publicUrl: VECTOR_URL })
    const req = webhook({
      receivedAt: new Date(1693657560000 + 1000),
      body: "{'example_field':'example_value'}",
      headers: { 'x-hubspot-signature-v3': 'K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=', 'x-hubspot-request-timestamp': '1693657560000' }
    })
    t.doesNotThrow(() => v3.authenticate(req))
  })

  const legacy = adapterFor(hubspotSource, 'hubspot', { clientSecret: VECTOR_SECRET, publicUrl: VECTOR_URL, signatureVersions: ['v1', 'v2'] })
  t.test('v1 (HubSpot docs FAQ, hubspot-api-nodejs)', async t => {
    const body = fixture('hubspot/v1-vector.json')
    const req = webhook({ body, headers: { 'x-hubspot-signature': '232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de', 'x-hubspot-signature-version': 'v1' } })
    t.doesNotThrow(() => legacy.authenticate(req))
    const [event] = legacy.parse(req)
    t.same(event?.event.record, { type: 'contact', id: '123', fields: {}, changed: null })
    t.equal(event?.dedupeKey, '62515:12345:1:123:1564113600000:')
  })

  t.test('v1 (hubspot-api-python)', async t => {
    const req = webhook({ body: "{'example_field':'example_value'}", headers: { 'x-hubspot-signature': '69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750', 'x-hubspot-signature-version': 'v1' } })
    t.doesNotThrow(() => legacy.authenticate(req))
  })

  t.test('v2 GET, empty body (HubSpot docs FAQ)', async t => {
    const req = webhook({ method: 'GET', headers: { 'x-hubspot-signature': 'eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e', 'x-hubspot-signature-version': 'v2' } })
    t.doesNotThrow(() => legacy.authenticate(req))
  })

  t.test('v2 POST (hubspot-api-nodejs)', async t => {
    const req = webhook({ body: '{"example_field":"example_value"}', headers: { 'x-hubspot-signature': '9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900', 'x-hubspot-signature-version': 'v2' } })
    t.doesNotThrow(() => legacy.authenticate(req))
  })
})

t.test('authenticate v3', async t => {
  const body = fixture('hubspot/batch.json')

  t.test('accepts a fresh, correctly signed request', async t => {
    t.doesNotThrow(() => adapter.authenticate(signedV3(body)))
  })

  t.test('rejects a wrong signature', async t => {
    const rejection = rejectionOf(() => adapter.authenticate(signedV3(body, undefined, { headers: { 'x-hubspot-signature-v3': hmacBase64('other-secret', 'POST', PUBLIC_URL, body, String(NOW.getTime())) } })))
    t.equal(rejection.statusCode, 401)
    t.equal(rejection.code, 'bad_signature')
    t.notMatch(rejection.message, SECRET)
  })

  t.test('rejects a modified body', async t => {
    const req = signedV3(body)
    req.rawBody = Buffer.from(body.toString('utf8').replace('subscriber', 'customer'))
    t.equal(rejectionOf(() => adapter.authenticate(req)).code, 'bad_signature')
  })

  t.test('rejects a stale or future timestamp, even when signed', async t => {
    for (const offset of [-300_001, 300_001]) {
      const rejection = rejectionOf(() => adapter.authenticate(signedV3(body, String(NOW.getTime() + offset))))
      t.equal(rejection.statusCode, 401)
      t.equal(rejection.code, 'stale_timestamp')
    }
    t.doesNotThrow(() => adapter.authenticate(signedV3(body, String(NOW.getTime() - 299_000))))
  })

  t.test('honours maxSkewMs', async t => {
    const strict = adapterFor(hubspotSource, 'hubspot', { clientSecret: SECRET, publicUrl: PUBLIC_URL, maxSkewMs: 1000 })
    t.equal(rejectionOf(() => strict.authenticate(signedV3(body))).code, 'stale_timestamp')
  })

  t.test('rejects missing headers', async t => {
    const noTimestamp = signedV3(body)
    delete noTimestamp.headers['x-hubspot-request-timestamp']
    t.equal(rejectionOf(() => adapter.authenticate(noTimestamp)).code, 'missing_signature')
    const bare = webhook({ body })
    const rejection = rejectionOf(() => adapter.authenticate(bare))
    t.equal(rejection.statusCode, 401)
    t.equal(rejection.code, 'missing_signature')
  })

  t.test('rejects a timestamp that is not epoch ms', async t => {
    t.equal(rejectionOf(() => adapter.authenticate(signedV3(body, '2024-05-02T09:30:20Z'))).code, 'bad_timestamp')
  })

  t.test('does not fall back to v1 when a v3 signature is present and fails', async t => {
    const both = adapterFor(hubspotSource, 'hubspot', { clientSecret: SECRET, publicUrl: PUBLIC_URL, signatureVersions: ['v3', 'v1'] })
    const req = signedV3(body, String(NOW.getTime() - 3_600_000), {
      headers: { 'x-hubspot-signature': sha256Hex(SECRET, body), 'x-hubspot-signature-version': 'v1' }
    })
    t.equal(rejectionOf(() => both.authenticate(req)).code, 'stale_timestamp')
  })

  t.test('signs the public URL with the received query, decoded as HubSpot does', async t => {
    const noConfiguredUrl = adapterFor(hubspotSource, 'hubspot', { clientSecret: SECRET })
    const timestamp = String(NOW.getTime())
    const signed = `${PUBLIC_URL}?tenant=acme:eu&next=/a(b)`
    const req = webhook({
      url: '/webhooks/hubspot?tenant=acme%3Aeu&next=%2Fa%28b%29',
      publicUrl: PUBLIC_URL,
      receivedAt: NOW,
      body,
      headers: { 'x-hubspot-signature-v3': hmacBase64(SECRET, 'POST', signed, body, timestamp), 'x-hubspot-request-timestamp': timestamp }
    })
    t.doesNotThrow(() => noConfiguredUrl.authenticate(req))
    t.equal(decodeV3Uri('https://x/a%3a%2F%3F%40%21%24%27%28%29%2A%2C%3B%20'), "https://x/a:/?@!$'()*,;%20")
  })
})

t.test('authenticate v1/v2 only when configured', async t => {
  const body = fixture('hubspot/batch.json')
  const v1Headers = { 'x-hubspot-signature': sha256Hex(SECRET, body), 'x-hubspot-signature-version': 'v1' }

  t.test('v1 is refused by default', async t => {
    const rejection = rejectionOf(() => adapter.authenticate(webhook({ body, headers: v1Headers })))
    t.equal(rejection.statusCode, 401)
    t.equal(rejection.code, 'missing_signature')
  })

  t.test('v1 accepted when allowed; v3 header ignored when v3 is not allowed', async t => {
    const v1 = adapterFor(hubspotSource, 'hubspot', { clientSecret: SECRET, signatureVersions: ['v1'] })
    t.doesNotThrow(() => v1.authenticate(webhook({ body, headers: { ...v1Headers, 'x-hubspot-signature-v3': 'garbage' } })))
    t.equal(rejectionOf(() => v1.authenticate(webhook({ body, headers: { ...v1Headers, 'x-hubspot-signature': sha256Hex('wrong', body) } }))).code, 'bad_signature')
  })

  t.test('a version that is not allowed is refused', async t => {
    const v1 = adapterFor(hubspotSource, 'hubspot', { clientSecret: SECRET, signatureVersions: ['v1'] })
    const v2Signature = sha256Hex(SECRET, 'POST', PUBLIC_URL, body)
    const rejection = rejectionOf(() => v1.authenticate(webhook({ body, headers: { 'x-hubspot-signature': v2Signature, 'x-hubspot-signature-version': 'v2' } })))
    t.equal(rejection.code, 'signature_version_not_allowed')
    const odd = rejectionOf(() => v1.authenticate(webhook({ body, headers: { 'x-hubspot-signature': v2Signature, 'x-hubspot-signature-version': '<script>' } })))
    t.equal(odd.code, 'signature_version_not_allowed')
    t.notMatch(odd.message, '<script>')
  })

  t.test('v2 uses method and URL', async t => {
    const v2 = adapterFor(hubspotSource, 'hubspot', { clientSecret: SECRET, publicUrl: PUBLIC_URL, signatureVersions: ['v2'] })
    const headers = { 'x-hubspot-signature': sha256Hex(SECRET, 'POST', PUBLIC_URL, body), 'x-hubspot-signature-version': 'v2' }
    t.doesNotThrow(() => v2.authenticate(webhook({ body, headers })))
    t.equal(rejectionOf(() => v2.authenticate(webhook({ method: 'PUT', body, headers }))).code, 'bad_signature')
  })
})

t.test('parse: the batch', async t => {
  const events = ingest(adapter, signedV3(fixture('hubspot/batch.json')))
  const raw = fixtureJson('hubspot/batch.json') as unknown[]
  t.strictSame(events, [
    {
      dedupeKey: '33:25:3816279340:1246965:1462216307945:lifecyclestage',
      event: {
        event: { id: '3816279340', occurredAt: '2016-05-02T19:11:47.945Z', type: 'contact.propertyChange' },
        record: { type: 'contact', id: '1246965', fields: { lifecyclestage: 'subscriber' }, changed: ['lifecyclestage'] },
        raw: raw[0],
        source: { name: 'hubspot', type: 'hubspot' }
      }
    },
    {
      dedupeKey: '33:26:3816279341:9876543210:1462216307946:',
      event: {
        event: { id: '3816279341', occurredAt: '2016-05-02T19:11:47.946Z', type: 'deal.creation' },
        record: { type: 'deal', id: '9876543210', fields: {}, changed: null },
        raw: raw[1],
        source: { name: 'hubspot', type: 'hubspot' }
      }
    },
    {
      dedupeKey: '33:27:3816279342:555:1462216307947:hs_pipeline_stage',
      event: {
        event: { id: '3816279342', occurredAt: '2016-05-02T19:11:47.947Z', type: 'object.propertyChange' },
        record: { type: '0-5', id: '555', fields: { hs_pipeline_stage: '4' }, changed: ['hs_pipeline_stage'] },
        raw: raw[2],
        source: { name: 'hubspot', type: 'hubspot' }
      }
    }
  ])
})

t.test('parse: the documented `eventType` spelling', async t => {
  const body = '[{"objectId":1246965,"propertyName":"lifecyclestage","propertyValue":"subscriber","changeSource":"ACADEMY","eventId":3816279340,"subscriptionId":25,"portalId":33,"appId":1160452,"occurredAt":1462216307945,"eventType":"contact.propertyChange","attemptNumber":0}]'
  const [event] = ingest(adapter, signedV3(body))
  t.equal(event?.event.event.type, 'contact.propertyChange')
  t.equal(event?.event.record.type, 'contact')
})

t.test('parse: deletions and merges change no property; creations are snapshots', async t => {
  const body = JSON.stringify([
    { eventId: 10, subscriptionId: 1, portalId: 33, occurredAt: 1714642215000, subscriptionType: 'contact.deletion', objectId: 7 },
    { eventId: 11, subscriptionId: 2, portalId: 33, occurredAt: 1714642215000, subscriptionType: 'contact.merge', objectId: 8, primaryObjectId: 8, mergedObjectIds: [9] },
    { eventId: 12, subscriptionId: 3, portalId: 33, occurredAt: 1714642215000, subscriptionType: 'object.creation', objectTypeId: '2-123', objectId: 9 }
  ])
  t.strictSame(ingest(adapter, signedV3(body)).map(e => [e.event.record.type, e.event.record.changed]), [['contact', []], ['contact', []], ['2-123', null]])
})

t.test('parse: refusals', async t => {
  const one = '{"eventId":1,"subscriptionId":1,"portalId":1,"occurredAt":1,"subscriptionType":"contact.creation","objectId":1}'
  const cases: Array<[string, string, string]> = [
    ['not an array', one, 'malformed_body'],
    ['empty array', '[]', 'malformed_body'],
    ['not JSON', '[{', 'malformed_body'],
    ['an event that is not an object', '[1]', 'malformed_body'],
    ['no eventId', '[{"objectId":1}]', 'missing_event_id'],
    ['over 1000 events', `[${Array(1001).fill(one).join(',')}]`, 'too_many_events']
  ]
  for (const [label, body, code] of cases) {
    const rejection = rejectionOf(() => ingest(adapter, signedV3(body)))
    t.equal(rejection.statusCode, 400, label)
    t.equal(rejection.code, code, label)
  }
  t.equal(ingest(adapter, signedV3(`[${Array(1000).fill(one).join(',')}]`)).length, 1000)
})

t.test('replies', async t => {
  const summary = { ...emptySummary, events: 1, accepted: [{ deliveryId: 'd1', route: 'r', eventId: '1' }] }
  t.strictSame(adapter.reply(summary), { statusCode: 200, contentType: 'application/json; charset=utf-8', body: JSON.stringify(summary) })
  t.strictSame(adapter.errorReply(new SourceRejection(401, 'bad_signature', 'nope')), {
    statusCode: 401, contentType: 'application/json; charset=utf-8', body: '{"error":"bad_signature","message":"nope"}'
  })
})

import { uuidv7 } from '../../src/store/ids.js'
import type { Store } from '../../src/store/store.js'

/** Queues `count` deliveries on the `contact-sync` route of basicMappings(), each on its own record, due now. */
export async function queueDeliveries (store: Store, count: number): Promise<void> {
  const now = Date.now()
  await store.ingest(Array.from({ length: count }, (_, i) => ({
    eventId: uuidv7(now),
    source: 'crm',
    dedupeKey: `e${i}`,
    event: { event: { id: `e${i}`, occurredAt: null, type: null }, record: { type: 'Contact', id: `r${i}`, fields: { email: 'a@example.com' }, changed: null }, raw: {}, source: { name: 'crm', type: 'generic' } },
    receivedAt: new Date(now),
    deliveries: [{ id: uuidv7(now), route: 'contact-sync', recordKey: `r${i}`, runAt: new Date(now - 1), maxAttempts: 3 }]
  })))
}

import type { Store, DeliveryState } from '../src/store/store.js'

export interface Ledger {
  accepted: number
  byState: Partial<Record<DeliveryState, number>>
  /** Accepted delivery ids the store does not account for. */
  missing: string[]
  /** Failed deliveries without a recorded reason. */
  failedWithoutReason: string[]
}

/**
 * The bookkeeping every fault test ends with: each delivery the service accepted (answered 2xx)
 * is delivered, failed with a reason, superseded, or still pending — never gone.
 */
export async function checkLedger (store: Store, acceptedIds: Iterable<string>): Promise<Ledger> {
  const ledger: Ledger = { accepted: 0, byState: {}, missing: [], failedWithoutReason: [] }
  for (const id of acceptedIds) {
    ledger.accepted++
    const delivery = await store.getDelivery(id)
    if (delivery === null) {
      ledger.missing.push(id)
      continue
    }
    ledger.byState[delivery.state] = (ledger.byState[delivery.state] ?? 0) + 1
    if (delivery.state === 'failed' && (delivery.lastError === null || delivery.lastError === '')) ledger.failedWithoutReason.push(id)
  }
  return ledger
}

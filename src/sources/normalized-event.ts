/**
 * The one event shape every CRM source produces and every mapping addresses with paths
 * (`event.id`, `record.fields.email`, `raw.portalId`, `source.name`, …).
 */
export interface NormalizedEvent {
  event: {
    /** The CRM's own event id where it has one (Salesforce Notification Id, HubSpot eventId, …). */
    id: string
    /** When the change happened, ISO-8601, or null when the CRM does not say. */
    occurredAt: string | null
    /** The CRM's event or message type (`contact.propertyChange`, `Update`, …), when it has one. */
    type: string | null
  }
  record: {
    type: string | null
    id: string | null
    fields: Record<string, unknown>
    /** Names of the fields that changed, where the CRM says; null when it does not. */
    changed: string[] | null
  }
  /** The source's own event, as parsed (one element of a batch, not the whole batch). */
  raw: unknown
  source: { name: string, type: string }
}

/** One event split out of a webhook request, with the key it is deduplicated on. */
export interface SourceEvent {
  /**
   * Idempotency key, unique per source: the CRM's own event id where it has one, a documented
   * composite where it does not (HubSpot). Two requests carrying the same key are one event.
   */
  dedupeKey: string
  event: NormalizedEvent
  /**
   * The JSON text `event.raw` was parsed from, when the source has it verbatim (the event is the
   * whole body): the store keeps it as it came instead of serializing `raw` again.
   */
  rawJson?: string
}

import type { LaunchRequest } from '../mapping/mapping-engine.js'

/**
 * Plain-language hints for Genesys answers that fail a launch, for the people reading the
 * delivery's record and the log. Genesys's own message, when there is one, is kept beside the hint.
 */
export function hintForLaunchFailure (status: number | null, body: unknown, request: LaunchRequest | null, hasCorrelationId: boolean): string | null {
  const errorBody = (typeof body === 'object' && body !== null ? body : {}) as { message?: unknown, code?: unknown }
  const message = typeof errorBody.message === 'string' ? errorBody.message : ''
  if (status === null) return 'No answer from Genesys (network error or timeout); the launch may or may not have happened, see docs/reliability.md on duplicates.'
  if (!hasCorrelationId && status >= 400) {
    return 'The answer carries no ININ-Correlation-Id, so it probably did not come from the Genesys Platform API: check GENESYS_REGION / GENESYS_API_URL (the API host is api.<region host>, e.g. api.mypurecloud.com) and any proxy in between.'
  }
  switch (status) {
    case 400: {
      if (message === '' && (body === null || body === '')) {
        const unprefixed = request === null ? [] : Object.keys(request.inputData).filter(k => !k.startsWith('Flow.'))
        return 'Genesys answered 400 with an empty body. Usual causes: input names without the "Flow." prefix' +
          (unprefixed.length > 0 ? ` (here: ${unprefixed.join(', ')})` : '') +
          '; names not declared as flow inputs ("Input to Flow" unchecked in Architect); values of the wrong type for the input; a flow that is not a published workflow. Run `crm-flow-bridge validate --remote` to check the route against the flow.'
      }
      return 'Genesys rejected the request. Check the route\'s inputs against the flow\'s declared inputs and types (`crm-flow-bridge validate --remote`), and that the flow is a published workflow.'
    }
    case 401: return 'Genesys did not accept the OAuth token even after fetching a new one: check the OAuth client (client credentials grant) and GENESYS_REGION.'
    case 403: return 'The OAuth client lacks permission: give its role architect:flow:launch (and architect:flow:view, architect:flowExecution:view) in the flow\'s division.'
    case 404: return 'Genesys does not know this flow (or version) in this org and region: check the route\'s flow.id, flow.version and GENESYS_REGION.'
    case 409: return 'Genesys reported a conflict for this launch.'
    case 413: return 'The request is too large for Genesys: map fewer or shorter inputs.'
    case 415: return 'Genesys refused the content type; this is a bug in the bridge, please report it.'
    default: return null
  }
}

/** Genesys's ErrorBody fields worth keeping with a failed attempt. */
export function describeGenesysError (status: number, body: unknown, text: string, correlationId: string | null): string {
  const errorBody = (typeof body === 'object' && body !== null ? body : {}) as { message?: unknown, code?: unknown, contextId?: unknown }
  const parts = [`HTTP ${status}`]
  if (typeof errorBody.code === 'string') parts.push(`code ${errorBody.code}`)
  if (typeof errorBody.message === 'string') parts.push(errorBody.message)
  else if (text !== '' && typeof body !== 'object') parts.push(text.slice(0, 200))
  else if (text === '') parts.push('(empty body)')
  if (typeof errorBody.contextId === 'string') parts.push(`contextId ${errorBody.contextId}`)
  if (correlationId !== null) parts.push(`correlation ${correlationId}`)
  return parts.join('; ')
}

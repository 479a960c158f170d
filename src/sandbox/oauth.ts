/**
 * The login host's client-credentials grant (fact sheet §4): `POST /oauth/token` with HTTP Basic client
 * authentication and a form body. Tokens are opaque random strings held in memory.
 * @see https://developer.genesys.cloud/api/rest/authorization/use-client-credentials
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { sendJson } from './error-body.js'
import { mediaType } from './media-type.js'
import type { SandboxClient, SandboxStats } from './sandbox-types.js'

export const DEFAULT_TOKEN_TTL_SECONDS = 86399

export type TokenLookup = { ok: true, clientId: string } | { ok: false }

export interface TokenStore {
  issue (clientId: string, ttlSeconds: number): string
  lookup (token: string): TokenLookup
  /** Revokes every token, or only those of one client. */
  revoke (clientId?: string): void
}

// Sweeping on issue keeps memory flat in long benchmarks without a timer to clean up.
const SWEEP_ABOVE = 1000

export function createTokenStore (now: () => number): TokenStore {
  const grants = new Map<string, { clientId: string, expiresAt: number }>()
  return {
    issue (clientId, ttlSeconds) {
      if (grants.size > SWEEP_ABOVE) {
        const time = now()
        for (const [token, grant] of grants) if (grant.expiresAt <= time) grants.delete(token)
      }
      const token = randomBytes(48).toString('base64url')
      grants.set(token, { clientId, expiresAt: now() + ttlSeconds * 1000 })
      return token
    },
    lookup (token) {
      const grant = grants.get(token)
      if (grant === undefined) return { ok: false }
      if (grant.expiresAt <= now()) {
        grants.delete(token)
        return { ok: false }
      }
      return { ok: true, clientId: grant.clientId }
    },
    revoke (clientId) {
      if (clientId === undefined) return grants.clear()
      for (const [token, grant] of grants) if (grant.clientId === clientId) grants.delete(token)
    }
  }
}

function oauthError (reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return sendJson(reply, status, { error, description, error_description: description })
}

/** Client ids and secrets are compared as sent: the Genesys SDKs base64 `id:secret` without form-encoding. */
function basicCredentials (header: string | undefined): { id: string, secret: string } | null {
  const match = /^Basic\s+(\S+)\s*$/i.exec(header ?? '')
  if (match === null) return null
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon === -1 ? null : { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) }
}

export interface OAuthRouteDeps {
  clients: Map<string, SandboxClient>
  tokens: TokenStore
  stats: SandboxStats
}

export function registerOAuthRoute (app: FastifyInstance, { clients, tokens, stats }: OAuthRouteDeps): void {
  app.post('/oauth/token', { config: { faultTarget: 'token' } }, async (request, reply) => {
    const credentials = basicCredentials(request.headers.authorization)
    if (credentials === null) {
      reply.header('www-authenticate', 'Basic realm="oauth"')
      return oauthError(reply, 401, 'invalid_client', 'client authentication required (HTTP Basic)')
    }
    const client = clients.get(credentials.id)
    if (client === undefined || client.clientSecret !== credentials.secret) {
      return oauthError(reply, 401, 'invalid_client', client === undefined ? 'client not found' : 'authentication failed')
    }
    if (mediaType(request) !== 'application/x-www-form-urlencoded') {
      return oauthError(reply, 400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded')
    }
    const grantType = (request.body as Record<string, string> | undefined)?.['grant_type']
    if (grantType === undefined || grantType === '') {
      return oauthError(reply, 400, 'invalid_request', 'grant_type is required')
    }
    if (grantType !== 'client_credentials') {
      return oauthError(reply, 400, 'unsupported_grant_type', `grant type "${grantType}" is not supported`)
    }
    const ttl = client.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS
    stats.tokensIssued++
    return sendJson(reply, 200, { access_token: tokens.issue(client.clientId, ttl), token_type: 'bearer', expires_in: ttl })
  })
}

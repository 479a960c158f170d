/**
 * /admin/mappings: the mappings in force (secrets masked) with their hash, load time, last rejected
 * reload and the flow validation verdicts; validation of a candidate file; preview of the exact
 * Genesys requests a sample webhook would produce.
 *
 * `POST /admin/mappings/validate` answers 200 whenever it could look at the candidate, valid or not
 * (`valid: false` with the problems): the request succeeded, the candidate is what has problems.
 * Scripts test `.valid` (or use `crm-flow-bridge validate`, which exits 1).
 */
import type { FastifyInstance } from 'fastify'
import { MappingsFileError } from '../../config/mappings-file.js'
import { previewWebhook } from '../../flows/preview.js'
import { redactLaunchRequest } from '../../mapping/mapping-engine.js'
import type { Mappings } from '../../mapping/mappings.js'
import { anyObject, errorResponses, errorSchema, flowProblemSchema, problemSchema } from './schemas.js'
import { fileErrorView, flowProblemView, mappingsView, reloadErrorView } from './views.js'

/** Content types the validate route takes as the candidate file's text. */
const candidateTypes = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml', 'text/plain', 'application/json']

interface PreviewBody {
  route?: string
  source?: string
  body: unknown
  headers?: Record<string, string>
  checkAuth?: boolean
}

export default async function mappingRoutes (fastify: FastifyInstance): Promise<void> {
  const { bridge } = fastify

  fastify.get('/mappings', {
    schema: {
      tags: ['mappings'],
      summary: 'The mappings in force',
      description: 'Source credentials and redacted route constants are masked. `lastReloadError` is the last rejected edit (the previous mappings stay in force); `flows` holds the checks of every route against its flow.',
      response: {
        200: {
          type: 'object',
          additionalProperties: true,
          properties: {
            file: { type: 'string' },
            hash: { type: 'string' },
            loadedAt: { type: 'string', format: 'date-time' },
            sources: anyObject,
            routes: { type: 'array', items: anyObject },
            lastReloadError: { type: ['object', 'null'], additionalProperties: true },
            flows: anyObject
          }
        },
        ...errorResponses
      }
    }
  }, async () => {
    const current = bridge.mappings.current
    return {
      file: current.file,
      hash: current.hash,
      loadedAt: current.loadedAt.toISOString(),
      ...mappingsView(current),
      lastReloadError: reloadErrorView(bridge.mappings.lastError),
      flows: flowsView()
    }
  })

  // The candidate's raw text is needed (line numbers), so this scope reads JSON bodies as text too.
  await fastify.register(async scope => {
    scope.removeContentTypeParser(['application/json', 'text/plain'])
    scope.addContentTypeParser(candidateTypes, { parseAs: 'string' }, (_request, body, done) => { done(null, body) })

    scope.post<{ Body: string, Querystring: { remote?: boolean } }>('/mappings/validate', {
      schema: {
        tags: ['mappings'],
        summary: 'Validate a candidate mappings file (YAML or JSON)',
        description: 'Send the file as the body (`Content-Type: application/yaml`, `text/plain` or `application/json`). Answers 200 with `valid` true or false and every problem with its path and line. With Genesys credentials, routes are also checked against their flows (`remote=false` skips that). Nothing is applied: edit MAPPINGS_FILE to change the mappings.',
        consumes: candidateTypes,
        querystring: { type: 'object', additionalProperties: { not: {} }, properties: { remote: { type: 'boolean' } } },
        body: { type: 'string' },
        response: {
          200: {
            type: 'object',
            additionalProperties: true,
            properties: {
              valid: { type: 'boolean' },
              kind: { type: ['string', 'null'], enum: ['syntax', 'invalid', null] },
              problems: { type: 'array', items: problemSchema },
              flowProblems: { type: 'array', items: flowProblemSchema },
              remote: anyObject,
              hash: { type: ['string', 'null'] }
            }
          },
          ...errorResponses
        }
      }
    }, async (request, reply) => {
      const text = request.body
      if (text.trim() === '') return await reply.code(400).send({ error: 'empty_body', message: 'send the candidate mappings file as the request body' })
      let candidate: Mappings
      try {
        candidate = bridge.reloader.parse(text, 'candidate')
      } catch (err) {
        if (!(err instanceof MappingsFileError)) throw err
        const view = fileErrorView(err)
        return { valid: false, kind: view.kind, problems: view.problems, flowProblems: [], remote: { checked: false, reason: 'the file itself has problems' }, hash: null }
      }
      const summary = { sources: [...candidate.sources.keys()], routes: candidate.routes.map(r => r.name) }
      if (bridge.flows === null || request.query.remote === false) {
        const reason = bridge.flows === null ? 'dry-run: no Genesys credentials' : 'remote=false'
        return { valid: true, kind: null, problems: [], flowProblems: [], remote: { checked: false, reason }, hash: candidate.hash, summary }
      }
      const flowProblems = await bridge.flows.checkCandidate(candidate, { text })
      const valid = !flowProblems.some(p => p.severity === 'error')
      return { valid, kind: null, problems: [], flowProblems: flowProblems.map(flowProblemView), remote: { checked: true }, hash: candidate.hash, summary }
    })
  })

  fastify.post<{ Body: PreviewBody }>('/mappings/preview', {
    schema: {
      tags: ['mappings'],
      summary: 'Preview the exact Genesys requests for a sample webhook; launches nothing',
      description: 'Runs the source\'s content-type and signature checks and its parser, matches routes, and maps each matched route with the mappings in force and the flow\'s declared types. `body` is the raw webhook body as a string (needed for signature checks), or a JSON value (serialized). `checkAuth: false` skips the signature check. Inputs a route redacts are masked. Answers 200 with `ok: false` and the stage that refused when no request would be sent.',
      body: {
        type: 'object',
        additionalProperties: { not: {} },
        properties: {
          route: { type: 'string', minLength: 1 },
          source: { type: 'string', minLength: 1 },
          body: { description: 'Raw body text, or any JSON value' },
          headers: { type: 'object', additionalProperties: { type: 'string' } },
          checkAuth: { type: 'boolean', default: true }
        },
        required: ['body']
      },
      response: {
        200: {
          type: 'object',
          additionalProperties: true,
          properties: {
            ok: { type: 'boolean' },
            source: { type: 'string' },
            launches: { type: 'integer' },
            request: anyObject,
            events: { type: 'array', items: anyObject },
            stage: { type: 'string' },
            code: { type: 'string' },
            message: { type: 'string' }
          }
        },
        ...errorResponses,
        404: { description: 'Unknown route or source', ...errorSchema }
      }
    }
  }, async (request, reply) => {
    const { route, source, body, headers, checkAuth } = request.body
    if (route === undefined && source === undefined) return await reply.code(400).send({ error: 'missing_route', message: 'give "route" or "source"' })
    const mappings = bridge.mappings.current
    const raw = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
    const result = await previewWebhook({
      mappings,
      route,
      source,
      body: raw,
      headers: headers ?? {},
      baseUrl: `${request.protocol}://${request.host}`,
      checkAuth: checkAuth !== false,
      schemaTypes: async r => {
        if (bridge.flows === null) return undefined
        await bridge.flows.catalog.lookup(r.flowId, r.flowVersion)
        return bridge.flows.inputTypes(r)
      }
    })
    if (!result.ok) {
      if (result.stage === 'usage') return await reply.code(result.code.startsWith('unknown_') ? 404 : 400).send({ error: result.code, message: result.message })
      return { ok: false, stage: result.stage, code: result.code, status: result.status ?? null, message: result.message }
    }
    const events = result.events.map(event => ({
      ...event,
      routes: event.routes.map(preview => {
        const compiled = mappings.route(preview.route)
        return preview.request === undefined || compiled === undefined ? preview : { ...preview, request: redactLaunchRequest(preview.request, compiled.redact) }
      })
    }))
    return {
      ok: true,
      source: result.source,
      launches: result.launches,
      request: { method: 'POST', url: `${bridge.settings.genesys.apiUrl}/api/v2/flows/executions`, headers: { 'content-type': 'application/json' } },
      events
    }
  })

  function flowsView (): Record<string, unknown> {
    if (bridge.flows === null) return { enabled: false, reason: 'dry-run: no Genesys credentials, routes are not checked against their flows' }
    const status = bridge.flows.status()
    return {
      enabled: true,
      state: status.state,
      checkedAt: status.checkedAt?.toISOString() ?? null,
      brokenRoutes: status.brokenRoutes,
      routes: status.routes.map(r => ({ route: r.route, flowId: r.flowId, flowVersion: r.flowVersion, flowName: r.flowName, checkedAt: r.checkedAt.toISOString(), ok: !r.problems.some(p => p.severity === 'error'), problems: r.problems.length })),
      problems: status.problems.map(flowProblemView)
    }
  }
}

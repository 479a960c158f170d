/**
 * Baseline for ingest: a bare fastify 5 server answering 202 on the same route as the bridge, reading
 * the body as raw bytes as the bridge does, with no logging, no signature check and no store. It
 * prints its port on stdout once listening.
 */
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1048576 }, (_request, body, done) => { done(null, body) })
app.post('/webhooks/:source', async (_request, reply) => await reply.code(202).send({ accepted: true }))
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) })
process.stdout.write(`${Number(process.env.PORT)}\n`)
process.on('SIGTERM', () => { void app.close().finally(() => process.exit(0)) })

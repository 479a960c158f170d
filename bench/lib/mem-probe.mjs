/**
 * Preloaded into the service (`node --import bench/lib/mem-probe.mjs dist/server.js`) by the memory
 * benchmark: appends one JSON line of process.memoryUsage() to BENCH_MEM_FILE every
 * BENCH_MEM_EVERY_MS. The timer is unref'd and the write synchronous, so it never holds the process
 * open and costs one small write per sample. Nothing in the service is changed.
 */
import { appendFileSync } from 'node:fs'

const file = process.env.BENCH_MEM_FILE
const every = Number(process.env.BENCH_MEM_EVERY_MS ?? 1000)
if (file !== undefined && file !== '') {
  const sample = () => {
    const m = process.memoryUsage()
    appendFileSync(file, JSON.stringify({ t: Date.now(), rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }) + '\n')
  }
  setInterval(sample, every).unref()
}

import t from 'tap'
import { uuidv7 } from '../../src/store/ids.js'

t.test('UUIDv7: version 7, RFC variant, the millisecond time up front', async t => {
  const now = Date.UTC(2026, 10, 29, 6, 0, 0, 123)
  const id = uuidv7(now)
  t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), now)
  t.match(uuidv7(0), /^00000000-0000-7/)
})

t.test('ids sort by time and do not repeat', async t => {
  const ids = new Set<string>()
  for (let i = 0; i < 20_000; i++) ids.add(uuidv7())
  t.equal(ids.size, 20_000)
  t.ok(uuidv7(1_000) < uuidv7(2_000))
  t.ok(uuidv7(0xfffffffffff) < uuidv7(0x100000000000))
})

t.test('each id carries its own millisecond, within one and across several', async t => {
  const timeOf = (id: string): number => parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
  const times = [5_000, 5_000, 5_001, 5_000, 0xfffffffffff]
  t.same(times.map(now => timeOf(uuidv7(now))), times)
})

/**
 * Keeps logged payloads and responses to a size a log pipeline accepts: values whose JSON is
 * within `maxBytes` pass as they are (still structured), larger ones become a truncated string.
 */
export function bounded (value: unknown, maxBytes: number): unknown {
  if (value === undefined || value === null) return value
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  if (text === undefined) return null
  if (Buffer.byteLength(text) <= maxBytes) return value
  return truncate(text, maxBytes)
}

export function truncate (text: string, maxBytes: number): string {
  const buffer = Buffer.from(text)
  if (buffer.length <= maxBytes) return text
  // Cut on a character boundary: drop continuation bytes of a split UTF-8 sequence.
  let end = maxBytes
  while (end > 0 && (buffer[end]! & 0xc0) === 0x80) end--
  return `${buffer.subarray(0, end).toString('utf8')}…[${buffer.length - end} more bytes]`
}

/** Opaque page cursors for delivery listings: the last row's sequence number, base64url. */
export function encodeCursor (seq: number): string {
  return Buffer.from(String(seq)).toString('base64url')
}

export function decodeCursor (cursor: string | null | undefined): number | null {
  if (cursor === undefined || cursor === null || cursor === '') return null
  const value = Number(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidCursorError()
  return value
}

export class InvalidCursorError extends Error {
  constructor () {
    super('cursor is not one this service issued')
    this.name = 'InvalidCursorError'
  }
}

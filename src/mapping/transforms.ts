/**
 * Value transforms an admin can chain in a mapping (`transform: [trim, lowercase]`). Each applies to
 * strings and leaves other values alone, so a chain never fails on a number or a null.
 */
export const transformNames = ['trim', 'lowercase', 'uppercase', 'digitsOnly', 'collapseSpaces', 'emptyToNull'] as const
export type TransformName = typeof transformNames[number]
export type Transform = TransformName | { truncate: number } | { default: unknown }

export function applyTransform (value: unknown, transform: Transform): unknown {
  if (typeof transform === 'object') {
    if ('truncate' in transform) return typeof value === 'string' ? [...value].slice(0, transform.truncate).join('') : value
    return value === undefined || value === null || value === '' ? transform.default : value
  }
  if (typeof value !== 'string') return value
  switch (transform) {
    case 'trim': return value.trim()
    case 'lowercase': return value.toLowerCase()
    case 'uppercase': return value.toUpperCase()
    case 'digitsOnly': return value.replace(/\D+/g, '')
    case 'collapseSpaces': return value.replace(/\s+/g, ' ').trim()
    case 'emptyToNull': return value.trim() === '' ? null : value
  }
}

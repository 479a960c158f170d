import type { Mappings } from './mappings.js'
import type { MappingsFileError } from '../config/mappings-file.js'

/**
 * The mappings in force, swapped whole on a good reload. Readers take `current` once per request or
 * delivery and keep using that object, so a swap never changes work already under way.
 */
export class MappingsHolder {
  #current: Mappings
  #lastError: { error: MappingsFileError, at: Date } | null = null

  constructor (initial: Mappings) {
    this.#current = initial
  }

  get current (): Mappings {
    return this.#current
  }

  get lastError (): { error: MappingsFileError, at: Date } | null {
    return this.#lastError
  }

  replace (next: Mappings): void {
    this.#current = next
    this.#lastError = null
  }

  rejected (error: MappingsFileError, at = new Date()): void {
    this.#lastError = { error, at }
  }
}

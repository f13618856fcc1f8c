/** Field schemas shared by the sub-protocols. */
import { Schema } from "effect"

/** A non-negative integer: ids, counts, milliseconds. */
export const NonNegativeInt = Schema.NonNegativeInt

/** Opaque bytes (user values encoded by the payload codec). */
export const Bytes = Schema.Uint8ArrayFromSelf

/** A process id, or a name registered locally on the target. */
export const ServerId = Schema.String

/** A message schema: a tagged struct whose identifier is its tag (for readable parse errors). */
export const tagged = <Tag extends string, Fields extends Schema.Struct.Fields>(tag: Tag, fields: Fields) =>
  Schema.TaggedStruct(tag, fields).annotations({ identifier: tag })

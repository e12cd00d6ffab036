// Writes Segment events to Kafka the way Segment's Kafka (Actions) destination does (built from
// reading how that destination builds its producer, not from its code): kafkajs 2.2.4, its
// DefaultPartitioner (murmur2 of the key like Java's producer; round robin without a key), a
// client with `retry: {retries: 0}` whose producer is not idempotent (so kafkajs's own producer
// retries, 5 by default, may write a batch twice), each event's value JSON.stringify(event),
// string headers segment-message-type, segment-message-id and source, one `send` per batch.
//
// Input (standard input, one JSON object): {brokers, topic, keying, batchSize, source, events}.
// keying: "none" (the destination's default: no Message Key mapped), "anonymous_first" (the
// Message Key mapped to {"@if": {"exists": {"@path": "$.anonymousId"}, "then": ..., "else":
// {"@path": "$.userId"}}}), or "user_first" (userId, else anonymousId: RudderStack's choice).
// Output (standard output): {"sent": N}.
'use strict'

const { Kafka, Partitioners, logLevel } = require('kafkajs')

const present = (value) => value !== undefined && value !== null

const KEYS = {
  none: () => undefined,
  anonymous_first: (event) =>
    present(event.anonymousId) ? event.anonymousId : present(event.userId) ? event.userId : undefined,
  user_first: (event) => event.userId || event.anonymousId || undefined
}

function message (event, keying, source) {
  const key = KEYS[keying](event)
  return {
    value: JSON.stringify(event),
    key: key === undefined ? undefined : String(key),
    headers: {
      'segment-message-type': String(event.type),
      'segment-message-id': String(event.messageId),
      source
    }
  }
}

async function main () {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  if (!(input.keying in KEYS)) throw new Error(`keying must be one of ${Object.keys(KEYS)}`)
  const kafka = new Kafka({
    clientId: 'segment-kafka-destination',
    brokers: input.brokers.split(',').map((b) => b.trim()),
    requestTimeout: 10000,
    retry: { retries: 0 },
    logLevel: logLevel.ERROR
  })
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    const size = input.batchSize || 1000
    for (let start = 0; start < input.events.length; start += size) {
      const batch = input.events.slice(start, start + size)
      await producer.send({
        topic: input.topic,
        messages: batch.map((event) => message(event, input.keying, input.source || 'segment'))
      })
    }
  } finally {
    await producer.disconnect()
  }
  process.stdout.write(JSON.stringify({ sent: input.events.length }) + '\n')
}

main().catch((error) => {
  process.stderr.write(`segment_kafka: ${error.message}\n`)
  process.exit(1)
})

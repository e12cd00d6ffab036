// Test oracle: answers with what Segment's published packages do, one JSON line per request.
// Used only by the differential suite (tests/differential); nothing here is part of the consumer.
//
// Requests (one JSON object per stdin line):
//   {"op": "trigger", "subscribe": "...", "events": [...]}
//       -> {"error": "..."} or {"results": [true, false, ...]}   (parseFql + validate)
//   {"op": "generate", "ast": {...}}
//       -> {"fql": "..."} or {"error": "..."}   (generateFql: the text Segment's UI writes)
//   {"op": "send", "mapping": {...}, "events": [...]}
//       -> {"results": [{"sent": bool, "error": "...", "request": {...}}, ...]}
//          the Send Entire Event action run by actions-core with a fake fetch (no network)
'use strict'
const path = require('path')
const readline = require('readline')
const { parseFql, validate, generateFql } = require('@segment/destination-subscriptions')
const core = require('@segment/actions-core')
const { transform } = core

// actions-core reads `fetch.default` at call time: swap it for a recorder.
const fetchModule = require(path.join(path.dirname(require.resolve('@segment/actions-core')), 'fetch.js'))
let recorded = null
fetchModule.default = async (request) => {
  const headers = {}
  request.headers.forEach((value, name) => {
    headers[name] = value
  })
  const body = request.body === null ? null : await request.text()
  recorded = { method: request.method, url: request.url, headers, body }
  return new fetchModule.Response('', { status: 200 })
}

// The Movable Ink "Send Entire Event" action as defined in segmentio/action-destinations
// (packages/destination-actions/src/destinations/movable-ink), declared again here because
// that package is not published on its own.
const sendEntireEvent = {
  title: 'Send Entire Event',
  description: 'Send an entire Segment event to Movable Ink',
  fields: {
    headers: { label: 'Headers', description: 'HTTP headers', type: 'object', defaultObjectUI: 'keyvalue:only' },
    data: { label: 'Data', description: 'Payload', type: 'object', default: { '@path': '$.' } }
  },
  perform: (request, { settings, payload }) => {
    const url = settings.movable_ink_url
    if (!url) throw new core.IntegrationError('no URL', 'MISSING_DESTINATION_URL', 400)
    try {
      return request(url, { method: 'POST', headers: payload.headers, json: payload.data })
    } catch (error) {
      if (error instanceof TypeError) throw new core.PayloadValidationError(error.message)
      throw error
    }
  }
}
const destination = new core.Destination({
  name: 'MovableInkOracle', // no space: ajv takes the name as a schema key
  slug: 'actions-movable-ink-oracle',
  mode: 'cloud',
  authentication: {
    scheme: 'basic',
    fields: {
      username: { label: 'Username', description: 'u', type: 'string', required: true },
      password: { label: 'Access Secret', description: 'p', type: 'password', required: true },
      movable_ink_url: { label: 'URL', description: 'url', type: 'string', required: true }
    }
  },
  extendRequest: ({ settings }) => ({ username: settings.username, password: settings.password }),
  actions: { sendEntireEvent }
})

function trigger(request) {
  let parsed
  try {
    parsed = parseFql(request.subscribe)
  } catch (error) {
    return { error: `${error.name}: ${error.message}` } // parseFql throws on some texts
  }
  if (parsed.error) return { error: String(parsed.error.message) }
  return {
    results: request.events.map((event) => {
      try {
        return validate(parsed, event)
      } catch (error) {
        return `throws ${error.name}: ${error.message}`
      }
    })
  }
}

function generate(request) {
  try {
    return { fql: generateFql(request.ast) }
  } catch (error) {
    return { error: `${error.name}: ${error.message}` }
  }
}

async function send(request) {
  const settings = request.settings
  const results = []
  for (const event of request.events) {
    recorded = null
    try {
      await destination.executeAction('sendEntireEvent', {
        event,
        mapping: JSON.parse(JSON.stringify(request.mapping)), // transform may mutate it
        settings
      })
      results.push({ sent: recorded !== null, request: recorded })
    } catch (error) {
      results.push({ sent: false, error: `${error.name}: ${error.message}` })
    }
  }
  return { results }
}

function map(request) {
  return {
    results: request.cases.map(({ mapping, event }) => {
      try {
        return { value: transform(mapping, event) }
      } catch (error) {
        return { error: `${error.name}: ${error.message}` }
      }
    })
  }
}

const ops = { trigger, generate, send, map }
const lines = readline.createInterface({ input: process.stdin })
let queue = Promise.resolve()
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let answer
    try {
      const request = JSON.parse(line)
      answer = await ops[request.op](request)
    } catch (error) {
      answer = { fatal: `${error.name}: ${error.message}` }
    }
    process.stdout.write(JSON.stringify(answer) + '\n')
  })
})

// Drives @segment/analytics-node against a Cove server.
//
// usage: node segment_peer.mjs HOST WRITE_KEY RUN_ID
//
// Same story as segment_peer.py: anonymous track and page, identify with
// userId + anonymousId, alias of a second anonymous id, track as the user;
// then the same messages again (same messageIds), as a retrying client.
// Exits non-zero on any delivery error.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, run] = process.argv.slice(2)
const user = `node-user-${run}`
const anon = `node-anon-${run}`
const anon2 = `node-anon2-${run}`
const errors = []

async function send () {
  const analytics = new Analytics({ writeKey, host, path: '/v1/batch', flushAt: 5, flushInterval: 200, maxRetries: 1 })
  analytics.on('error', (err) => errors.push(String(err?.reason ?? err?.message ?? err)))
  analytics.track({ anonymousId: anon, event: 'Product Viewed', properties: { sku: 'X1-CARBON' }, messageId: `node-${run}-1` })
  analytics.page({ anonymousId: anon, name: 'Gaming Laptops', properties: { path: '/c/gaming' }, messageId: `node-${run}-2` })
  analytics.identify({ userId: user, anonymousId: anon, traits: { email: `${user}@example.cn`, plan: 'member' }, messageId: `node-${run}-3` })
  analytics.alias({ previousId: anon2, userId: user, messageId: `node-${run}-4` })
  analytics.track({ userId: user, event: 'Order Completed', properties: { total_fen: 899900 }, messageId: `node-${run}-5` })
  await analytics.closeAndFlush({ timeout: 10000 })
}

await send()
await send()
if (errors.length > 0) {
  console.log(JSON.stringify({ errors }))
  process.exit(1)
}
console.log(JSON.stringify({ messages: [1, 2, 3, 4, 5].map((i) => `node-${run}-${i}`) }))

const { parseFql, validate, generateFql } = require('@segment/destination-subscriptions')
const texts = JSON.parse(process.argv[2])
const ev = JSON.parse(process.argv[3] || '[]')
for (const t of texts) {
  let p; try { p = parseFql(t) } catch (e) { console.log(t, 'THROWS', e.message); continue }
  console.log(JSON.stringify(t), JSON.stringify(p), ev.map(e => { try { return validate(p, e) } catch (x) { return 'throw' } }))
}

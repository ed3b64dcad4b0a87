// Starts s3rver on 127.0.0.1 on a free port with one bucket, prints "s3rver listening <host>:<port>" and exits when its
// standard input closes (the test process that started it went away, however it ended).
const S3rver = require('@20minutes/s3rver')

const [directory, bucket] = process.argv.slice(2)
if (!directory || !bucket) {
  console.error('usage: node start.js <directory> <bucket>')
  process.exit(2)
}

new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: bucket, configs: [] }] })
  .run()
  .then((address) => console.log(`s3rver listening ${address.address}:${address.port}`))
  .catch((error) => {
    console.error(error)
    process.exit(1)
  })

process.stdin.resume()
process.stdin.on('end', () => process.exit(0))

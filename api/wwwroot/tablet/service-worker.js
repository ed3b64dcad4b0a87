// The tablet's service worker, served as /tablet/sw.js with ASSETS and VERSION filled in by the server (TabletPage.cs):
// VERSION is a hash of every cached file, so any change to one installs a new worker and a fresh cache.
// Only the page and its own files are answered here (cache first: they are versioned); the API is never cached.
const ASSETS = "__ASSETS__";
const VERSION = "__VERSION__";
const CACHE = "medspa-tablet-" + VERSION;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(ASSETS.map((url) => new Request(url, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("medspa-tablet-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !ASSETS.includes(url.pathname)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(url.pathname);
    if (hit) return hit;
    const res = await fetch(event.request);
    if (res.ok) await cache.put(url.pathname, res.clone());
    return res;
  })());
});

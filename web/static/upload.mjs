// A package sent in chunks that survives a dropped connection and a reload:
// the upload is named by the file's SHA-256, and its id is kept in
// localStorage under that hash, so choosing the same file again after a
// reload asks the server which ranges arrived and sends only the rest.
import sha256 from './vendor/sha256.mjs';
import {get, post, call, query, ApiError} from './api.mjs';

// 4 MiB a request; a slow or flaky link may ask for smaller chunks (less to
// send again after a drop) by setting localStorage "lwdock.chunk-bytes".
export function chunkBytes() {
  const wanted = Number(localStorage.getItem('lwdock.chunk-bytes'));
  return Number.isInteger(wanted) && wanted >= 256 && wanted <= (64 << 20) ? wanted : 4 << 20;
}
const HASH_CHUNK = 4 << 20;
const key = (hash) => `lwdock.upload.${hash}`;

// SHA-256 of a Blob, read a chunk at a time (flat memory for any size).
export async function hashBlob(blob, onProgress) {
  const h = sha256.create();
  for (let at = 0; at < blob.size; at += HASH_CHUNK) {
    h.update(new Uint8Array(await blob.slice(at, at + HASH_CHUNK).arrayBuffer()));
    onProgress?.(Math.min(blob.size, at + HASH_CHUNK), blob.size);
  }
  return h.hex();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The gaps of `received` ([begin, end) ranges, merged) in [0, size).
function missing(received, size) {
  const gaps = [];
  let at = 0;
  for (const [b, e] of received) {
    if (b > at) gaps.push([at, b]);
    at = Math.max(at, e);
  }
  if (at < size) gaps.push([at, size]);
  return gaps;
}

// Sends `blob` as `filename`; returns the completed upload's id. Progress:
// onProgress(phase, done, total) with phase "hashing" or "sending";
// onResume(bytes) when an earlier attempt's bytes were found on the server.
export async function uploadPackage(blob, filename, {onProgress, onResume, signal} = {}) {
  const hash = await hashBlob(blob, (d, t) => onProgress?.('hashing', d, t));
  let upload = null;
  const saved = localStorage.getItem(key(hash));
  if (saved) {
    try {
      upload = await get(`/api/user/uploads/${encodeURIComponent(saved)}`);
      if (upload.received_bytes > 0) onResume?.(upload.received_bytes);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
      localStorage.removeItem(key(hash));  // expired or abandoned on the server
    }
  }
  if (!upload) {
    upload = await post('/api/user/uploads', {filename, size: blob.size, sha256: hash});
    localStorage.setItem(key(hash), upload.id);
  }
  const CHUNK = chunkBytes();
  let sent = upload.received_bytes || 0;
  onProgress?.('sending', sent, blob.size);
  for (const [begin, end] of missing(upload.received || [], blob.size)) {
    for (let at = begin; at < end; at += CHUNK) {
      const chunk = blob.slice(at, Math.min(end, at + CHUNK));
      for (let attempt = 0; ; ++attempt) {
        try {
          upload = await call('PUT', `/api/user/uploads/${encodeURIComponent(upload.id)}${query({offset: at})}`,
                              {body: chunk, headers: {'Content-Type': 'application/octet-stream'}, signal});
          break;
        } catch (e) {
          // a dropped connection or a busy server: wait and send the chunk again
          const transient = e instanceof ApiError && (e.status === 0 || e.status === 503 || e.status === 429);
          if (!transient || attempt >= 6) throw e;
          await sleep(Math.min(8000, 500 * 2 ** attempt));
        }
      }
      sent += chunk.size;
      onProgress?.('sending', sent, blob.size);
    }
  }
  return {id: upload.id, forget: () => localStorage.removeItem(key(hash))};
}

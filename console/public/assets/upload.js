// The upload to S3 with the form the API signed (POST policy): XMLHttpRequest, because fetch
// cannot report upload progress. S3 checks the form's policy (key, type, size, expiry) itself.

/// What the browser checks before asking for a form; S3 enforces the same limits
/// (shared/src/s3.rs UPLOAD_CONTENT_TYPES and MAX_UPLOAD_BYTES).
export const ACCEPTED_TYPES = { 'video/mp4': 'MP4', 'video/quicktime': 'MOV' };
export const MAX_BYTES = 512 * 1024 * 1024;

/// The type to declare for a file, from its MIME type or, when the browser gives none, its name.
export function contentTypeOf(file) {
  if (file.type) return file.type;
  const name = file.name.toLowerCase();
  if (name.endsWith('.mp4') || name.endsWith('.m4v')) return 'video/mp4';
  if (name.endsWith('.mov')) return 'video/quicktime';
  return '';
}

/// Why a file cannot be posted, in plain words, or null when it can.
export function fileProblem(file) {
  if (!file) return 'Choose a video to post.';
  const type = contentTypeOf(file);
  if (!ACCEPTED_TYPES[type]) {
    return `"${file.name}" is ${type ? `a ${type} file` : 'not a recognised video'}. Choose an MP4 or MOV video.`;
  }
  if (file.size === 0) return `"${file.name}" is empty. Choose another video.`;
  if (file.size > MAX_BYTES) {
    return `"${file.name}" is ${(file.size / 1024 / 1024).toFixed(0)} MB; videos can be at most 512 MB. Shorten or compress it.`;
  }
  return null;
}

/// A file name the API accepts (letters, digits, '.', '-', '_', space; at most 100).
export function safeFileName(file, type) {
  const ext = type === 'video/quicktime' ? '.mov' : '.mp4';
  let base = file.name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._ -]/g, '_').replace(/^\.+/, '').slice(0, 90);
  if (!base.trim()) base = 'video';
  return base + ext;
}

/// Posts `file` with the signed form; `onProgress(sent, total)` as bytes leave the browser.
export function uploadToS3(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append('file', file);
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method || 'POST', upload.url);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else {
        const code = /<Code>([^<]+)<\/Code>/.exec(xhr.responseText || '')?.[1];
        const message = /<Message>([^<]+)<\/Message>/.exec(xhr.responseText || '')?.[1];
        reject(new Error(`the storage service refused the upload (${xhr.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''})`));
      }
    });
    xhr.addEventListener('error', () => reject(new Error('the upload could not reach the storage service (network error)')));
    xhr.addEventListener('abort', () => reject(new Error('the upload was cancelled')));
    xhr.send(form);
  });
}

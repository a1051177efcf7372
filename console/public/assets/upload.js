// The upload to S3 with the form the API signed (POST policy): XMLHttpRequest, because fetch
// cannot report upload progress. S3 checks the form's policy (key, type, size, expiry) itself.

/// What the browser checks before asking for a form; S3 enforces the same limits
/// (shared/src/s3.rs UPLOAD_CONTENT_TYPES and MAX_UPLOAD_BYTES). WebM and MKV are converted to
/// MP4 before they go to X.
export const ACCEPTED_TYPES = {
  'video/mp4': 'MP4', 'video/quicktime': 'MOV', 'video/webm': 'WebM', 'video/x-matroska': 'MKV',
};
/// The file name endings the chooser offers, and the type each stands for.
export const ACCEPTED_EXTENSIONS = {
  '.mp4': 'video/mp4', '.m4v': 'video/mp4', '.mov': 'video/quicktime', '.webm': 'video/webm', '.mkv': 'video/x-matroska',
};
export const MAX_BYTES = 512 * 1024 * 1024;

/// The type to declare for a file: its MIME type when Reelay takes it, else the one its name
/// implies (browsers give none, or another name such as video/x-m4v, for some videos), else the
/// browser's (which fileProblem then refuses).
export function contentTypeOf(file) {
  if (ACCEPTED_TYPES[file.type]) return file.type;
  const name = file.name.toLowerCase();
  const byName = Object.entries(ACCEPTED_EXTENSIONS).find(([ext]) => name.endsWith(ext));
  return byName ? byName[1] : file.type;
}

/// Why a file cannot be posted, in plain words, or null when it can.
export function fileProblem(file) {
  if (!file) return 'Choose a video to post.';
  const type = contentTypeOf(file);
  if (!ACCEPTED_TYPES[type]) {
    return `"${file.name}" is ${type ? `a ${type} file` : 'not a recognised video'}. Choose an MP4 or MOV video (WebM and MKV work too).`;
  }
  if (file.size === 0) return `"${file.name}" is empty. Choose another video.`;
  if (file.size > MAX_BYTES) {
    return `"${file.name}" is ${(file.size / 1024 / 1024).toFixed(0)} MB; videos can be at most 512 MB. Shorten or compress it.`;
  }
  return null;
}

/// A file name the API accepts (letters, digits, '.', '-', '_', space; at most 100).
export function safeFileName(file, type) {
  const ext = { 'video/quicktime': '.mov', 'video/webm': '.webm', 'video/x-matroska': '.mkv' }[type] || '.mp4';
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

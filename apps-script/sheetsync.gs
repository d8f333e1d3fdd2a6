/**
 * @OnlyCurrentDoc
 *
 * sheetsync: tell `sheetsync serve` the moment this spreadsheet is edited, so the edit
 * reaches the store in seconds instead of at the next poll.
 *
 * Install (step by step, and what to authorise: docs/serve.md):
 *   1. Extensions → Apps Script; paste this file; save.
 *   2. Project Settings → Script Properties: add
 *        SHEETSYNC_URL          https://<your serve host>/hooks/sheet
 *        SHEETSYNC_HOOK_SECRET  the value of serve.hook_secret
 *   3. Run `sheetsyncInstall` once from the editor and authorise it. It creates the two
 *      installable triggers (on edit, on change) that run `sheetsyncOnEdit` and
 *      `sheetsyncOnChange`.
 *
 * What it sends is a small signed notice, never the sheet's data:
 *   body:   {"spreadsheet_id":"…","tab":"…","sent_at":"2026-12-07T10:00:00.000Z"}
 *   header: X-Sheetsync-Signature: sha256=<hex HMAC-SHA256 of the body's UTF-8 bytes>
 * `serve` answers 202 when it took it, 401 when the signature or the clock is off,
 * 409 for a copy of a notice it already took.
 *
 * Google runs no trigger for edits made through the API (sheetsync's own write-back,
 * other integrations) or by formulas; `serve` keeps polling Drive for those.
 */

/** Handler of the installable "On edit" trigger: a person changed cells. */
function sheetsyncOnEdit(e) {
  var sheet = e && e.range ? e.range.getSheet() : SpreadsheetApp.getActiveSheet();
  sheetsyncNotify_(sheet.getParent(), sheet.getName());
}

/**
 * Handler of the installable "On change" trigger: rows or columns inserted or removed,
 * a sort, a tab added. Plain edits are left to `sheetsyncOnEdit`, which knows the tab.
 */
function sheetsyncOnChange(e) {
  if (e && e.changeType === 'EDIT') {
    return;
  }
  var ss = e && e.source ? e.source : SpreadsheetApp.getActiveSpreadsheet();
  sheetsyncNotify_(ss, ss.getActiveSheet().getName());
}

/** Creates the two triggers for this spreadsheet (again: old ones are replaced). */
function sheetsyncInstall() {
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  ScriptApp.getProjectTriggers().forEach(function (t) {
    var f = t.getHandlerFunction();
    if (f === 'sheetsyncOnEdit' || f === 'sheetsyncOnChange') {
      ScriptApp.deleteTrigger(t);
    }
  });
  ScriptApp.newTrigger('sheetsyncOnEdit').forSpreadsheet(ss).onEdit().create();
  ScriptApp.newTrigger('sheetsyncOnChange').forSpreadsheet(ss).onChange().create();
}

/** Sends one signed notice; a refusal is written to the script's execution log. */
function sheetsyncNotify_(ss, tab) {
  var props = PropertiesService.getScriptProperties();
  var url = props.getProperty('SHEETSYNC_URL');
  var secret = props.getProperty('SHEETSYNC_HOOK_SECRET');
  if (!url || !secret) {
    console.warn('sheetsync: set SHEETSYNC_URL and SHEETSYNC_HOOK_SECRET in the Script Properties');
    return;
  }
  var body = sheetsyncBody_(ss.getId(), tab, new Date());
  var response = UrlFetchApp.fetch(url, {
    method: 'post',
    contentType: 'application/json',
    payload: body,
    headers: { 'X-Sheetsync-Signature': 'sha256=' + sheetsyncSign_(body, secret) },
    muteHttpExceptions: true,
  });
  var code = response.getResponseCode();
  if (code !== 202) {
    console.warn('sheetsync: serve answered ' + code + ': ' + response.getContentText());
  }
}

/** The body, byte for byte as `serve` verifies it (keys in this order, no spaces). */
function sheetsyncBody_(spreadsheetId, tab, date) {
  return JSON.stringify({ spreadsheet_id: spreadsheetId, tab: tab, sent_at: date.toISOString() });
}

/** Lower-case hex of HMAC-SHA256(body) under the secret, both as UTF-8. */
function sheetsyncSign_(body, secret) {
  var bytes = Utilities.computeHmacSha256Signature(body, secret, Utilities.Charset.UTF_8);
  return bytes
    .map(function (b) {
      return ('0' + (b & 0xff).toString(16)).slice(-2);
    })
    .join('');
}

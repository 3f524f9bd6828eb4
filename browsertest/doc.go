// Package browsertest drives the gateway's live status page (groq serve's /) in
// headless Chromium, with github.com/chromedp/chromedp. It is a module of its
// own so that chromedp is never a dependency of github.com/groqkit/groq; it
// has only tests. See README.md.
package browsertest

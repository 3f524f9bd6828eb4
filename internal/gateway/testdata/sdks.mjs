// The official JavaScript SDKs (openai, groq-sdk) against the gateway: a call, a
// stream with usage, and a wrong token. It prints what it saw as one JSON line.
import OpenAI from 'openai';
import Groq from 'groq-sdk';

const base = process.env.GW_URL;
const model = 'llama-3.1-8b-instant';
const messages = [{ role: 'user', content: 'hello from node' }];
const out = {};

const openai = new OpenAI({ apiKey: process.env.GW_TOKEN, baseURL: base + '/openai/v1', maxRetries: 0 });
const r = await openai.chat.completions.create({ model, messages });
out.openai = r.choices[0].message.content;

const st = await openai.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
let chunks = 0, text = '', usage = 0;
for await (const c of st) {
  chunks++;
  text += c.choices?.[0]?.delta?.content ?? '';
  usage = c.usage?.total_tokens ?? c.x_groq?.usage?.total_tokens ?? usage;
}
out.stream = { chunks, text, usage };

const groq = new Groq({ apiKey: process.env.GW_TOKEN, baseURL: base, maxRetries: 0 });
const g = await groq.chat.completions.create({ model, messages });
out.groq = g.choices[0].message.content;

try {
  await new OpenAI({ apiKey: 'wrong', baseURL: base + '/openai/v1', maxRetries: 0 }).chat.completions.create({ model, messages });
} catch (e) {
  out.wrong = e.status;
}
console.log(JSON.stringify(out));

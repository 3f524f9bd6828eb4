// Package limits holds Groq's published free-plan rate limits, the one table
// that both the client (its defaults) and groqtest (its default models) use, so
// that the two cannot drift apart. Limits change over time: they are defaults a
// user overrides, never truths.
package limits

// Model is one model's limits: requests and tokens per minute and per day, the
// context window in tokens, and for speech-to-text models the seconds of audio per
// hour and per day.
type Model struct {
	RPM, RPD, TPM, TPD, ContextWindow int
	ASH, ASD                          int
}

// Published returns a fresh copy of the table, by model.
func Published() map[string]Model {
	return map[string]Model{
		"llama-3.1-8b-instant":        {RPM: 30, RPD: 14400, TPM: 6000, TPD: 500000, ContextWindow: 131072},
		"llama-3.3-70b-versatile":     {RPM: 30, RPD: 1000, TPM: 12000, TPD: 100000, ContextWindow: 131072},
		"openai/gpt-oss-120b":         {RPM: 30, RPD: 1000, TPM: 8000, TPD: 200000, ContextWindow: 131072},
		"openai/gpt-oss-20b":          {RPM: 30, RPD: 1000, TPM: 8000, TPD: 200000, ContextWindow: 131072},
		"qwen/qwen3-32b":              {RPM: 60, RPD: 1000, TPM: 6000, TPD: 500000, ContextWindow: 131072},
		"moonshotai/kimi-k2-instruct": {RPM: 60, RPD: 1000, TPM: 10000, TPD: 300000, ContextWindow: 131072},
		// Compound systems (server-side tools; one call may spend several inner calls).
		"groq/compound":      {RPM: 30, RPD: 250, TPM: 70000, ContextWindow: 131072},
		"groq/compound-mini": {RPM: 30, RPD: 250, TPM: 70000, ContextWindow: 131072},
		// Speech to text: requests and seconds of audio (Groq's free-tier figures).
		"whisper-large-v3":       {RPM: 20, RPD: 2000, ASH: 7200, ASD: 28800, ContextWindow: 448},
		"whisper-large-v3-turbo": {RPM: 20, RPD: 2000, ASH: 7200, ASD: 28800, ContextWindow: 448},
		// Text to speech: requests and tokens of input text (the free tier's
		// figures for Groq's TTS models).
		"canopylabs/orpheus-v1-english":   {RPM: 10, RPD: 100, TPM: 1200, TPD: 3600},
		"canopylabs/orpheus-arabic-saudi": {RPM: 10, RPD: 100, TPM: 1200, TPD: 3600},
	}
}

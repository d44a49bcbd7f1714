package exporter

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// litellmLines generates realistic LiteLLM-style JSON access log lines:
// mostly request_completed events across a few models, users and statuses,
// some other events, and the occasional truncated line.
func litellmLines(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 7))
	models := []string{"qwen3.5", "mistral-small", "llama-3.3-70b", "gpt-4o-mini", "deepseek-r1", "gemma-3-27b"}
	users := []string{"team-search", "team-chat", "batch-eval", "canary-probe", "alice@example.com"}
	statuses := []int{200, 200, 200, 200, 200, 200, 200, 200, 404, 429, 500, 503}
	out := make([][]byte, 0, n)
	for i := range n {
		var b bytes.Buffer
		ts := fmt.Sprintf("2026-05-04T17:%02d:%02d.%06dZ", (i/60000)%60, (i/1000)%60, r.IntN(1000000))
		switch x := r.IntN(100); {
		case x < 8:
			fmt.Fprintf(&b, `{"timestamp":"%s","level":"INFO","event":"request_started","request_id":"chatcmpl-%016x","model":"%s","api_base":"https://openrouter.ai/api/v1"}`,
				ts, r.Uint64(), models[r.IntN(len(models))])
		case x < 10:
			fmt.Fprintf(&b, `{"timestamp":"%s","level":"DEBUG","message":"router: selected deployment \"%s\" (healthy=4, cooldown=0)"}`,
				ts, models[r.IntN(len(models))])
		default:
			user := ""
			if r.IntN(5) > 0 {
				user = fmt.Sprintf(`"api_user":"%s",`, users[r.IntN(len(users))])
			}
			fmt.Fprintf(&b, `{"timestamp":"%s","level":"INFO","event":"request_completed","request_id":"chatcmpl-%016x","call_type":"acompletion","model":"%s","model_group":"%s","api_base":"https://openrouter.ai/api/v1","status_code":%d,%s"response_time":%.3f,"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"cache_hit":false,"metadata":{"tags":["canary","rollout"],"pod":"litellm-67b4ccbdb4-x2k9p","user_agent":"OpenAI/Python 1.82.0"}}`,
				ts, r.Uint64(), models[r.IntN(len(models))], models[r.IntN(len(models))], statuses[r.IntN(len(statuses))], user,
				r.Float64()*8, r.IntN(2000), r.IntN(1000), r.IntN(3000))
		}
		line := b.Bytes()
		if r.IntN(1000) == 0 { // a line cut by a crash mid-write
			line = line[:len(line)/2]
		}
		out = append(out, line)
	}
	return out
}

func BenchmarkProcessLiteLLM(b *testing.B) {
	cfg, _ := Preset("litellm")
	p, err := NewProcessor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	lines := litellmLines(4096, 1)
	var bytesTotal int
	for _, l := range lines {
		bytesTotal += len(l) + 1
	}
	b.SetBytes(int64(bytesTotal / len(lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Process(lines[i&4095])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkReadLinesLiteLLM measures the whole stdin path: line splitting
// plus processing, over one in-memory copy of the input.
func BenchmarkReadLinesLiteLLM(b *testing.B) {
	cfg, _ := Preset("litellm")
	lines := litellmLines(20000, 2)
	data := append(bytes.Join(lines, []byte("\n")), '\n')
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p, _ := NewProcessor(cfg)
		if err := ReadLines(context.Background(), bytes.NewReader(data), 1<<20, func(l []byte) { p.Process(l) }, p.CountTooLong); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
}

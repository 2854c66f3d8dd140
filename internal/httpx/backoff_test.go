package httpx

import (
	"net/http"
	"testing"
	"time"
)

func answer(status int, retryAfter string) *http.Response {
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return &http.Response{StatusCode: status, Header: h}
}

func TestBackoffExponentialWithinBounds(t *testing.T) {
	min, max := 100*time.Millisecond, 2*time.Second
	for attempt := 0; attempt < 12; attempt++ {
		d := min << attempt
		if d > max {
			d = max
		}
		lo := d / 2
		if lo < min {
			lo = min
		}
		seen := map[time.Duration]bool{}
		for i := 0; i < 200; i++ {
			got := Backoff(min, max, attempt, answer(http.StatusServiceUnavailable, ""))
			if got < lo || got > d {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, got, lo, d)
			}
			seen[got] = true
		}
		if attempt >= 1 && len(seen) < 2 {
			t.Errorf("attempt %d: no jitter, always %v", attempt, seen)
		}
	}
}

func TestBackoffHugeAttemptDoesNotOverflow(t *testing.T) {
	for _, attempt := range []int{63, 64, 1000, 1 << 30} {
		got := Backoff(time.Second, 30*time.Second, attempt, nil)
		if got < 15*time.Second || got > 30*time.Second {
			t.Fatalf("attempt %d: backoff %v outside [15s, 30s]", attempt, got)
		}
	}
}

func TestBackoffHonoursRetryAfterSeconds(t *testing.T) {
	for _, status := range []int{429, 500, 502, 503, 504, 599} {
		got := Backoff(time.Millisecond, 2*time.Millisecond, 0, answer(status, "7"))
		if got != 7*time.Second {
			t.Errorf("status %d: backoff %v, want exactly 7s", status, got)
		}
	}
}

func TestBackoffDoesNotShortenRetryAfter(t *testing.T) {
	got := Backoff(time.Millisecond, 2*time.Millisecond, 0, answer(429, "600"))
	if got != 10*time.Minute {
		t.Fatalf("backoff %v, want the whole 10m asked for", got)
	}
}

func TestBackoffHonoursRetryAfterDate(t *testing.T) {
	when := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	got := Backoff(time.Millisecond, 2*time.Millisecond, 0, answer(503, when))
	// HTTP dates have one-second resolution.
	if got < 28*time.Second || got > 30*time.Second {
		t.Fatalf("backoff %v, want about 30s", got)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	if got := Backoff(time.Millisecond, 2*time.Millisecond, 0, answer(429, past)); got != 0 {
		t.Fatalf("past date: backoff %v, want 0", got)
	}
}

func TestBackoffIgnoresRetryAfterWhenNotApplicable(t *testing.T) {
	cases := []struct {
		name string
		resp *http.Response
	}{
		{"400 answer", answer(400, "7")},
		{"garbage value", answer(429, "soon")},
		{"negative value", answer(429, "-5")},
		{"no answer", nil},
	}
	for _, tc := range cases {
		got := Backoff(time.Millisecond, 2*time.Millisecond, 0, tc.resp)
		if got < time.Millisecond || got > 2*time.Millisecond {
			t.Errorf("%s: backoff %v, want exponential [1ms, 2ms]", tc.name, got)
		}
	}
}

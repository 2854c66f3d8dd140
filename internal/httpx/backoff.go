package httpx

import (
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Backoff is the retry wait (a retryablehttp.Backoff): the Retry-After of a
// 429 or 5xx answer when it has one, else retryablehttp.DefaultBackoff's
// exponential delay min*2^attempt capped at max, with "equal jitter" (a
// uniformly random value in [d/2, d], never below min) so that callers that
// failed together do not retry together.
func Backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if d, ok := retryAfter(resp); ok {
		return d
	}
	d := retryablehttp.DefaultBackoff(lo, hi, attempt, nil)
	return max(lo, d/2+rand.N(d-d/2+1))
}

// retryAfter is the wait the Retry-After header of a 429 or 5xx answer asks
// for, in seconds or as an HTTP date. retryablehttp parses it; it reads the
// header of 429 and 503 answers only, hence the 503 stand-in, and answers
// -1 (min*2^0 with min -1) when there is no valid header.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return 0, false
	}
	d := retryablehttp.DefaultBackoff(-1, -1, 0, &http.Response{StatusCode: http.StatusServiceUnavailable, Header: resp.Header})
	return d, d >= 0
}

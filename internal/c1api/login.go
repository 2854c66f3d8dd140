package c1api

import (
	"context"
	"errors"
)

// Login exchanges the client's credentials for a fresh access token with the
// client-assertion flow, as a connector authenticating with its own
// credential does: it signs a new assertion each time rather than reusing a
// cached token. A refused login is an error for which httpx.StatusOf gives
// the token endpoint's status. A client built with a static access token has
// nothing to log in with.
func (c *Client) Login(ctx context.Context) error {
	if c.tokens == nil {
		return errors.New("c1 login: the client uses a static access token, not client credentials")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := c.tokens.login.Token()
	return err
}

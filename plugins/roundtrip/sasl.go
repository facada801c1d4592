package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/emersion/go-sasl"
)

// maxTokenLen bounds an OAuth2 access token read from a file or command.
const maxTokenLen = 16 << 10

// oauthToken reads the access token afresh for this run: from the file, or
// from the command's standard output (run with sh -c, bounded by ctx).
func oauthToken(ctx context.Context, a AuthConfig) (string, error) {
	var raw []byte
	switch {
	case a.OAuthTokenFile != "":
		b, err := os.ReadFile(a.OAuthTokenFile)
		if err != nil {
			return "", fmt.Errorf("read oauth_token_file: %w", err)
		}
		raw = b
	case a.OAuthTokenCommand != "":
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", a.OAuthTokenCommand)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if len(msg) > 200 {
				msg = msg[:200]
			}
			if msg != "" {
				return "", fmt.Errorf("oauth_token_command: %w: %s", err, msg)
			}
			return "", fmt.Errorf("oauth_token_command: %w", err)
		}
		raw = out
	default:
		return "", nil
	}
	tok := strings.TrimSpace(string(raw))
	switch {
	case tok == "":
		return "", errors.New("the OAuth2 token is empty")
	case len(tok) > maxTokenLen:
		return "", errors.New("the OAuth2 token is too long")
	case strings.ContainsAny(tok, " \t\r\n\x00\x01"):
		return "", errors.New("the OAuth2 token contains spaces or control characters")
	}
	return tok, nil
}

// saslClient returns the client for mech (one of the mech* constants).
func saslClient(mech string, a AuthConfig, token string) sasl.Client {
	switch mech {
	case mechLogin:
		return sasl.NewLoginClient(a.Username, a.Password)
	case mechXOAuth2:
		return &xoauth2Client{username: a.Username, token: token}
	case mechOAuthBearer:
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: a.Username, Token: token})
	}
	return sasl.NewPlainClient("", a.Username, a.Password)
}

// xoauth2Client is Google's XOAUTH2 SASL mechanism, which go-sasl lacks:
// one initial response; a failure comes as a challenge holding a JSON
// error, which Next returns as the error (the exchange is then aborted).
type xoauth2Client struct {
	username, token string
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	return mechXOAuth2, []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	return nil, fmt.Errorf("XOAUTH2 token rejected: %s", oneLine(string(challenge)))
}

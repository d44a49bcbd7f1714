package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/api/v1alpha1"
)

// tokens caches OAuth2 access tokens by endpoint, client and scopes, until
// they expire (a token without expires_in is kept until a query is refused
// with 401, as golang.org/x/oauth2 keeps it).
var tokens = struct {
	sync.Mutex
	m map[string]cachedToken
}{m: map[string]cachedToken{}}

type cachedToken struct {
	value  string
	expiry time.Time // zero: no expiry given
}

// expiryMargin renews a token this long before it expires, so a query never
// carries one that lapses in flight.
const expiryMargin = 10 * time.Second

func tokenKey(o *v1alpha1.OAuth2Config) string {
	return strings.Join([]string{o.TokenURL, o.ClientID, o.ClientSecret, strings.Join(o.Scopes, " ")}, "\x00")
}

// authHeaders returns the headers a metric's authentication adds, fetching
// (or reusing) an OAuth2 token. field is the authentication's path for
// messages, e.g. provider.prometheus.authentication.
func authHeaders(ctx context.Context, a *v1alpha1.Authentication, field string, insecure bool, timeout time.Duration) ([]v1alpha1.WebMetricHeader, error) {
	switch {
	case a == nil:
		return nil, nil
	case a.Sigv4 != nil:
		return nil, fmt.Errorf("%s.sigv4 (AWS SigV4 signing) is not implemented by this version of Sluice; "+
			"use basicAuth, oauth2 or headers, or run this analysis with Argo Rollouts", field)
	case a.OAuth2 != nil:
		tok, err := oauth2Token(ctx, a.OAuth2, field, insecure, timeout)
		if err != nil {
			return nil, err
		}
		return []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer " + tok}}, nil
	case a.BasicAuth != nil:
		cred := base64.StdEncoding.EncodeToString([]byte(a.BasicAuth.Username + ":" + a.BasicAuth.Password))
		return []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Basic " + cred}}, nil
	}
	return nil, nil
}

// forgetToken drops a cached token the server refused (HTTP 401), so the next
// measurement asks for a new one.
func forgetToken(a *v1alpha1.Authentication) {
	if a == nil || a.OAuth2 == nil {
		return
	}
	tokens.Lock()
	delete(tokens.m, tokenKey(a.OAuth2))
	tokens.Unlock()
}

// oauth2Token runs the client-credentials grant (RFC 6749 §4.4): a POST of
// grant_type=client_credentials to the token endpoint, the client
// authenticated with HTTP basic auth, or, if the endpoint refuses that, with
// client_id and client_secret in the form, as golang.org/x/oauth2 does.
func oauth2Token(ctx context.Context, o *v1alpha1.OAuth2Config, field string, insecure bool, timeout time.Duration) (string, error) {
	key := tokenKey(o)
	tokens.Lock()
	c, ok := tokens.m[key]
	tokens.Unlock()
	if ok && (c.expiry.IsZero() || Now().Add(expiryMargin).Before(c.expiry)) {
		return c.value, nil
	}
	status, body, err := tokenRequest(ctx, o, true, insecure, timeout)
	if err == nil && (status == http.StatusUnauthorized || status == http.StatusBadRequest) {
		status, body, err = tokenRequest(ctx, o, false, insecure, timeout)
	}
	if err != nil {
		return "", fmt.Errorf("%s.oauth2: token endpoint %s unreachable: %v", field, o.TokenURL, err)
	}
	if status < 200 || status > 299 {
		return "", fmt.Errorf("%s.oauth2: token endpoint %s refused client %q: HTTP %d: %s", field, o.TokenURL, o.ClientID, status, snippet(body))
	}
	var ans struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.AccessToken == "" {
		return "", fmt.Errorf("%s.oauth2: token endpoint %s answered without an access_token: %s", field, o.TokenURL, snippet(body))
	}
	if tt := strings.ToLower(ans.TokenType); tt != "" && tt != "bearer" {
		return "", fmt.Errorf("%s.oauth2: token endpoint %s gave a %q token; only bearer tokens can be sent", field, o.TokenURL, ans.TokenType)
	}
	c = cachedToken{value: ans.AccessToken}
	var secs float64
	if s := strings.Trim(string(ans.ExpiresIn), `"`); s != "" && s != "null" {
		if _, err := fmt.Sscan(s, &secs); err == nil && secs > 0 {
			c.expiry = Now().Add(time.Duration(secs * float64(time.Second)))
		}
	}
	tokens.Lock()
	tokens.m[key] = c
	tokens.Unlock()
	return c.value, nil
}

func tokenRequest(ctx context.Context, o *v1alpha1.OAuth2Config, basic, insecure bool, timeout time.Duration) (int, []byte, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(o.Scopes) > 0 {
		form.Set("scope", strings.Join(o.Scopes, " "))
	}
	headers := []v1alpha1.WebMetricHeader{{Key: "Content-Type", Value: "application/x-www-form-urlencoded"}, {Key: "Accept", Value: "application/json"}}
	if basic {
		cred := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(o.ClientID) + ":" + url.QueryEscape(o.ClientSecret)))
		headers = append(headers, v1alpha1.WebMetricHeader{Key: "Authorization", Value: "Basic " + cred})
	} else {
		form.Set("client_id", o.ClientID)
		form.Set("client_secret", o.ClientSecret)
	}
	return fetch(ctx, http.MethodPost, o.TokenURL, strings.NewReader(form.Encode()), headers, insecure, timeout)
}

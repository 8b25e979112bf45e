package agent

import (
	"context"
	"net/http"
)

func contextWith(r *http.Request, user string) context.Context {
	return context.WithValue(r.Context(), callerKey{}, user)
}

package redact

import (
	"reflect"
	"regexp"

	corev1 "k8s.io/api/core/v1"
)

// Mask replaces a redacted value.
const Mask = "[REDACTED]"

var (
	sensitiveName = regexp.MustCompile(`(?i)(token|secret|passw|pwd|key|credential|cred|auth|cert|private|last-applied-configuration)`)
	bearer        = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*`)
	urlUserInfo   = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s:@]+(:[^/\s@]*)?@`)
	jwt           = regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+`)
	keyValue      = regexp.MustCompile(`(?i)\b([A-Za-z0-9_\-.]*(?:token|secret|password|passwd|api[_-]?key|credential)[A-Za-z0-9_\-.]*)\s*([=:])\s*("[^"]*"|'[^']*'|[^\s,;&]+)`)
)

// SensitiveName reports whether a variable, annotation or key name looks like it holds a secret.
func SensitiveName(name string) bool {
	return sensitiveName.MatchString(name)
}

// Text removes bearer and basic credentials, JWTs, credentials in URLs and name=value pairs whose
// name looks secret.
func Text(s string) string {
	s = bearer.ReplaceAllString(s, "$1 "+Mask)
	s = jwt.ReplaceAllString(s, Mask)
	s = urlUserInfo.ReplaceAllString(s, "${1}"+Mask+"@")
	s = keyValue.ReplaceAllString(s, "$1$2"+Mask)
	return s
}

// Map returns a copy of m with values under sensitive keys masked and every other value passed
// through Text.
func Map(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if SensitiveName(k) {
			out[k] = Mask
		} else {
			out[k] = Text(v)
		}
	}
	return out
}

// Pod returns a copy of pod with env values of sensitive names masked in containers,
// initContainers and ephemeralContainers, and annotations passed through Map.
func Pod(pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	p.Annotations = Map(p.Annotations)
	for i := range p.Spec.Containers {
		env(p.Spec.Containers[i].Env)
	}
	for i := range p.Spec.InitContainers {
		env(p.Spec.InitContainers[i].Env)
	}
	for i := range p.Spec.EphemeralContainers {
		env(p.Spec.EphemeralContainers[i].Env)
	}
	return p
}

func env(vars []corev1.EnvVar) {
	for i := range vars {
		if SensitiveName(vars[i].Name) && vars[i].Value != "" {
			vars[i].Value = Mask
		} else {
			vars[i].Value = Text(vars[i].Value)
		}
	}
}

// Value redacts, in place, every string reachable from v (a pointer): map values under
// sensitive keys and the Value of any struct with a sensitive Name field are masked; every
// other string is passed through Text.
func Value(v any) {
	walk(reflect.ValueOf(v), false)
}

func walk(v reflect.Value, mask bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), mask)
		}
	case reflect.String:
		if !v.CanSet() {
			return
		}
		if mask && v.String() != "" {
			v.SetString(Mask)
		} else {
			v.SetString(Text(v.String()))
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), mask)
		}
	case reflect.Struct:
		walkStruct(v, mask)
	case reflect.Map:
		walkMap(v)
	}
}

func walkStruct(v reflect.Value, mask bool) {
	maskValue := false
	if name := v.FieldByName("Name"); name.IsValid() && name.Kind() == reflect.String {
		maskValue = SensitiveName(name.String())
	}
	for i := 0; i < v.NumField(); i++ {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		f := v.Field(i)
		walk(f, mask || (maskValue && v.Type().Field(i).Name == "Value"))
	}
}

func walkMap(v reflect.Value) {
	if v.IsNil() || v.Type().Key().Kind() != reflect.String {
		return
	}
	for _, k := range v.MapKeys() {
		e := reflect.New(v.Type().Elem()).Elem()
		e.Set(v.MapIndex(k))
		walk(e, SensitiveName(k.String()))
		v.SetMapIndex(k, e)
	}
}

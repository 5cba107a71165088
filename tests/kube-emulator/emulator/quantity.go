// file: quantity.go — canonical serialisation of resource.Quantity values, as every
// apiserver write produces it (`cpu: 0.5` is stored as "500m", `memory: 1.5Gi` as
// "1536Mi", a JSON number 1 as "1"): a classic source of spurious drift.
//
// Follows apimachinery resource.Quantity: values are rounded up to nano precision,
// binary suffixes stay binary only for exact multiples of 1024 at or beyond ±1024,
// decimal values use the largest exponent (multiple of 3) with an integer mantissa.
package main

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

const quantityRef = "io.k8s.apimachinery.pkg.api.resource.Quantity"

var quantityRe = regexp.MustCompile(`^([+-]?[0-9]*\.?[0-9]*)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$`)

var binaryExp = map[string]int{"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
var decimalExp = map[string]int{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

// canonicalQuantity returns the canonical string, or ok=false if s is not a quantity.
func canonicalQuantity(s string) (string, bool) {
	m := quantityRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || m[1] == "" || m[1] == "+" || m[1] == "-" || m[1] == "." {
		return "", false
	}
	num, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return "", false
	}
	suffix := m[2]
	format := "decimal"
	switch {
	case binaryExp[suffix] > 0:
		format = "binary"
		num.Mul(num, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(1024), big.NewInt(int64(binaryExp[suffix])), nil)))
	case len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E'):
		format = "exponent"
		var e int
		fmt.Sscanf(suffix[1:], "%d", &e)
		num.Mul(num, pow10(e))
	default:
		num.Mul(num, pow10(decimalExp[suffix]))
	}
	// Round up to nano precision (away from zero, as Quantity does).
	nano := new(big.Rat).Mul(num, pow10(9))
	if !nano.IsInt() {
		q := new(big.Int).Quo(nano.Num(), nano.Denom())
		if nano.Sign() > 0 {
			q.Add(q, big.NewInt(1))
		} else {
			q.Sub(q, big.NewInt(1))
		}
		num = new(big.Rat).SetFrac(q, big.NewInt(1000000000))
	}
	if num.Sign() == 0 {
		return "0", true
	}
	if format == "binary" {
		abs := new(big.Rat).Abs(num)
		if abs.Cmp(big.NewRat(1024, 1)) < 0 || !num.IsInt() {
			format = "decimal"
		} else {
			v := new(big.Int).Set(num.Num())
			k := 0
			k1024 := big.NewInt(1024)
			for k < 6 {
				q, r := new(big.Int).QuoRem(v, k1024, new(big.Int))
				if r.Sign() != 0 {
					break
				}
				v = q
				k++
			}
			return v.String() + []string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}[k], true
		}
	}
	// Decimal: integer mantissa with the largest exponent that is a multiple of 3.
	e := -9
	mant := new(big.Rat).Mul(num, pow10(9)).Num() // exact integer at nano scale
	mant = new(big.Int).Set(mant)
	thousand := big.NewInt(1000)
	for e < 18 {
		q, r := new(big.Int).QuoRem(mant, thousand, new(big.Int))
		if r.Sign() != 0 {
			break
		}
		mant = q
		e += 3
	}
	if format == "exponent" {
		if e == 0 {
			return mant.String(), true
		}
		return fmt.Sprintf("%se%d", mant.String(), e), true
	}
	for sfx, x := range decimalExp {
		if x == e {
			return mant.String() + sfx, true
		}
	}
	return mant.String(), true
}

func pow10(e int) *big.Rat {
	if e >= 0 {
		return new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil))
	}
	return new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-e)), nil))
}

// quantityValue canonicalises one JSON value (string or number).
func quantityValue(v interface{}) (interface{}, bool) {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case int64:
		s = fmt.Sprint(t)
	case float64:
		s = big.NewFloat(t).Text('f', -1)
	default:
		return v, false
	}
	c, ok := canonicalQuantity(s)
	if !ok {
		return v, false
	}
	return c, true
}

func isQuantityRef(sc *v3Schema) bool {
	for sc != nil {
		if strings.HasSuffix(sc.Ref, quantityRef) {
			return true
		}
		if len(sc.AllOf) == 1 {
			sc = sc.AllOf[0]
			continue
		}
		return false
	}
	return false
}

// canonicalizeQuantities walks obj with its v3 schema and rewrites every Quantity.
func (s *Server) canonicalizeQuantities(obj map[string]interface{}, sc *v3Schema, depth int) {
	s.walkSchema(obj, sc, depth, func(o map[string]interface{}, key string, prop *v3Schema, _ bool) bool {
		if !isQuantityRef(prop) {
			return true
		}
		if c, ok := quantityValue(o[key]); ok {
			o[key] = c
		}
		return false
	})
}

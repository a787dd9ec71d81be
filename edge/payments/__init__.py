"""Payments: what each tender of a cart is. Every tender is a payment state machine
(`machine`, pure) folded into the `payments` read model (`projection`, `rows`); `settlement`
and `cash` are the arithmetic of paying a total (change, cash rounding), `views` how a payment
is shown. Taking tenders is the `edge.tender` domain's work; this package is what carts and
orders read."""

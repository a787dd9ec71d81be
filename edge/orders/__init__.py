"""Orders: completing a sale (one `sale.completed` event), the order and receipt views, and
refunds of an order to its original tenders. `commands` (completion), `views`, `refunds`,
`projection`, `routes`."""

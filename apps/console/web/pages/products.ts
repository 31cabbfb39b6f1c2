// Product names for ids the billing lists carry: looked up once per product on billing's public catalog copy.
import { useEffect, useState } from "react"
import type { ProductId } from "@kassa/domain/ids"
import type { ProductOffer } from "@kassa/domain/products"
import { api } from "../session.ts"

const cache = new Map<string, Promise<ProductOffer | undefined>>()

export const productOffer = (id: ProductId): Promise<ProductOffer | undefined> => {
  let found = cache.get(id)
  if (found === undefined) {
    found = api((c) => c.billing.products.get({ params: { id } })).catch(() => undefined)
    cache.set(id, found)
  }
  return found
}

export const useProductOffers = (ids: ReadonlyArray<ProductId>): ReadonlyMap<string, ProductOffer> => {
  const [offers, setOffers] = useState<ReadonlyMap<string, ProductOffer>>(new Map())
  const key = [...new Set(ids)].sort().join(",")
  // keyed by the set of ids, not the array (a new array each render would refetch forever)
  useEffect(() => {
    let current = true
    const wanted = key === "" ? [] : (key.split(",") as Array<ProductId>)
    void Promise.all(wanted.map((id) => productOffer(id))).then((found) => {
      if (current) setOffers(new Map(found.flatMap((o) => (o === undefined ? [] : [[o.id, o] as const]))))
    })
    return () => {
      current = false
    }
  }, [key])
  return offers
}

export const useProductNames = (ids: ReadonlyArray<ProductId>): ReadonlyMap<string, string> => {
  const offers = useProductOffers(ids)
  return new Map([...offers].map(([id, o]) => [id, o.name]))
}

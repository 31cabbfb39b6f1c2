// The films the viewer may watch now, and until when.
import { dateTime } from "../format.ts"
import { api } from "../session.ts"
import { Async, Empty, useLoad } from "../ui.tsx"
import { useProductOffers } from "./products.ts"

export function Watch() {
  const loaded = useLoad(() => api((c) => c.billing.entitlements.list()), [])
  const offers = useProductOffers(loaded.data?.products.map((p) => p.productId) ?? [])
  return (
    <section>
      <h1>My films</h1>
      <Async loaded={loaded}>
        {(entitlements) =>
          entitlements.films.length === 0
            ? <Empty>You may not watch any film right now. <a href="#/">Subscribe to a product</a> to watch its films.</Empty>
            : (
              <ul className="films-list">
                {entitlements.films.map((film) => {
                  const offer = offers.get(film.productId)
                  const title = offer?.films.find((f) => f.id === film.filmId)?.title ?? film.filmId
                  return (
                    <li key={film.filmId}>
                      <strong>{title}</strong> — with {offer?.name ?? film.productId}, until {dateTime(film.until)}
                    </li>
                  )
                })}
              </ul>
            )}
      </Async>
    </section>
  )
}

// Admin: films, searched by title and paged; add, change and delete (a film a product lists cannot be deleted).
import { useState } from "react"
import type { AgeRating, Film } from "@kassa/domain/catalog"
import { date } from "../format.ts"
import { api } from "../session.ts"
import { Confirm, ErrorBox, Field, Notice, PagedTable, pageQuery, Select, useAction, usePagedLoad } from "../ui.tsx"

const ratings = (["0+", "6+", "12+", "16+", "18+"] as const).map((r) => [r, r] as const)

function FilmForm({ film, onSaved, onCancel }: { film: Film | undefined; onSaved: (film: Film) => void; onCancel: () => void }) {
  const [title, setTitle] = useState(film?.title ?? "")
  const [description, setDescription] = useState(film?.description ?? "")
  const [year, setYear] = useState(String(film?.releaseYear ?? ""))
  const [minutes, setMinutes] = useState(String(film?.durationMinutes ?? ""))
  const [rating, setRating] = useState<AgeRating>(film?.ageRating ?? "12+")
  const action = useAction()
  return (
    <form
      className="panel"
      aria-label={film === undefined ? "New film" : `Edit ${film.title}`}
      onSubmit={(e) => {
        e.preventDefault()
        void action.act(async () => {
          const fields = {
            title,
            description,
            releaseYear: Number(year),
            durationMinutes: Number(minutes),
            ageRating: rating
          }
          onSaved(
            film === undefined
              ? await api((c) => c.catalog.films.create({ payload: fields }))
              : await api((c) => c.catalog.films.update({ params: { id: film.id }, payload: fields }))
          )
        })
      }}
    >
      <h2>{film === undefined ? "New film" : `Edit “${film.title}”`}</h2>
      <Field label="Title" value={title} onChange={setTitle} required />
      <Field label="Description" value={description} onChange={setDescription} />
      <Field label="Release year" value={year} onChange={setYear} inputMode="numeric" required hint="1888 to 2100" />
      <Field label="Duration (minutes)" value={minutes} onChange={setMinutes} inputMode="numeric" required />
      <Select label="Age rating" value={rating} options={ratings} onChange={setRating} />
      <ErrorBox error={action.error} />
      <div className="actions">
        <button type="submit" disabled={action.busy}>{film === undefined ? "Add film" : "Save film"}</button>
        <button type="button" className="secondary" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  )
}

export function AdminFilms() {
  const [search, setSearch] = useState("")
  const [query, setQuery] = useState("")
  const [editing, setEditing] = useState<Film | "new" | undefined>(undefined)
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const list = usePagedLoad(
    (paging) => api((c) => c.catalog.films.list({ query: { ...pageQuery(paging), ...(query.trim() === "" ? {} : { search: query }) } })),
    [query]
  )
  const [deleting, setDeleting] = useState<Film | undefined>(undefined)
  return (
    <section>
      <h1>Films</h1>
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault()
          list.paging.reset()
          setQuery(search)
        }}
      >
        <Field label="Search titles" type="search" value={search} onChange={setSearch} />
        <button type="submit">Search</button>
        <button type="button" onClick={() => setEditing("new")}>New film</button>
      </form>
      {notice === undefined ? null : <Notice>{notice}</Notice>}
      {deleting === undefined ? null : (
        <Confirm
          key={deleting.id}
          label="Confirm the delete"
          confirm="Yes, delete it"
          busy="Deleting…"
          back="Keep it"
          onBack={() => setDeleting(undefined)}
          onConfirm={async () => {
            await api((c) => c.catalog.films.delete({ params: { id: deleting.id } }))
            setDeleting(undefined)
            setNotice(`Deleted “${deleting.title}”.`)
            list.loaded.reload()
          }}
        >
          Delete “{deleting.title}”? A film that a product lists cannot be deleted: take it out of those products first.
        </Confirm>
      )}
      {editing === undefined ? null : (
        <FilmForm
          key={editing === "new" ? "new" : editing.id}
          film={editing === "new" ? undefined : editing}
          onCancel={() => setEditing(undefined)}
          onSaved={(film) => {
            setEditing(undefined)
            setNotice(`Saved “${film.title}”.`)
            list.loaded.reload()
          }}
        />
      )}
      <PagedTable
        list={list}
        empty={query === "" ? "No films yet." : `No film title contains “${query}”.`}
        columns={["Title", "Year", "Minutes", "Rating", "Changed", "Actions"]}
        row={(film) => (
          <tr key={film.id}>
            <td>{film.title}</td>
            <td>{film.releaseYear}</td>
            <td>{film.durationMinutes}</td>
            <td>{film.ageRating}</td>
            <td>{date(film.updatedAt)}</td>
            <td className="actions">
              <button type="button" onClick={() => setEditing(film)} aria-label={`Edit ${film.title}`}>Edit</button>
              <button type="button" className="secondary" aria-label={`Delete ${film.title}`} onClick={() => setDeleting(film)}>
                Delete
              </button>
            </td>
          </tr>
        )}
      />
    </section>
  )
}

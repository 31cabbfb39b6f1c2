// Sign in and sign up.
import { useState } from "react"
import { signIn, signUp } from "../session.ts"
import { ErrorBox, Field, navigate, Notice, useAction } from "../ui.tsx"

export function SignIn({ notice, stay = false }: { notice?: string; stay?: boolean }) {
  const [email, setEmail] = useState("")
  const [password, setPassword] = useState("")
  const action = useAction()
  return (
    <section className="narrow">
      <h1>Sign in</h1>
      {notice === undefined ? null : <Notice>{notice}</Notice>}
      <form
        onSubmit={(e) => {
          e.preventDefault()
          void action.act(async () => {
            await signIn(email, password)
            if (!stay) navigate("/")
          })
        }}
      >
        <Field label="Email" type="email" value={email} onChange={setEmail} required autoComplete="username" />
        <Field label="Password" type="password" value={password} onChange={setPassword} required autoComplete="current-password" />
        <ErrorBox error={action.error} />
        <button type="submit" disabled={action.busy}>{action.busy ? "Signing in…" : "Sign in"}</button>
      </form>
      <p>No account yet? <a href="#/signup">Sign up</a></p>
    </section>
  )
}

export function SignUp() {
  const [email, setEmail] = useState("")
  const [password, setPassword] = useState("")
  const action = useAction()
  return (
    <section className="narrow">
      <h1>Sign up</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault()
          void action.act(async () => {
            await signUp(email, password)
            navigate("/")
          })
        }}
      >
        <Field label="Email" type="email" value={email} onChange={setEmail} required autoComplete="email" />
        <Field
          label="Password"
          type="password"
          value={password}
          onChange={setPassword}
          required
          autoComplete="new-password"
          hint="At least 8 characters."
        />
        <ErrorBox error={action.error} />
        <button type="submit" disabled={action.busy}>{action.busy ? "Creating your account…" : "Create account"}</button>
      </form>
      <p>Have an account? <a href="#/signin">Sign in</a></p>
    </section>
  )
}

import { Anchor, Button, Center, Divider, Paper, PasswordInput, PinInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { ApiError, request, session } from '../api/client';
import type { Tokens } from '../api/types';
import { ProblemAlert } from '../ui/Problem';

/** Tokens handed back by single sign-on in the URL fragment (never sent to a server); the fragment is cleared at once. */
function takeFragmentTokens(): boolean {
  if (!location.hash.includes('access_token=')) return false;
  const params = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, '', location.pathname);
  const access = params.get('access_token');
  const refresh = params.get('refresh_token');
  if (!access || !refresh) return false;
  session.setTokens({ access_token: access, refresh_token: refresh, token_type: 'bearer', expires_in: Number(params.get('expires_in') ?? 1800) });
  return true;
}

export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const methods = useQuery({
    queryKey: ['auth-methods'],
    queryFn: () => request<{ password: boolean; oidc: boolean; local: boolean }>('/auth/methods'),
  });
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [needsCode, setNeedsCode] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (takeFragmentTokens()) onSignedIn();
  }, [onSignedIn]);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const tokens = await request<Tokens>('/auth/login', {
        body: { email, password, ...(needsCode ? { totp_code: code } : {}) },
      });
      session.setTokens(tokens);
      onSignedIn();
    } catch (caught) {
      if (caught instanceof ApiError && caught.problem.code === 'mfa_required') {
        setNeedsCode(true);
      } else {
        setError(caught);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center h="100%">
      <Paper withBorder shadow="sm" p="xl" w={380} radius="lg">
        <form onSubmit={submit}>
          <Stack>
            <div>
              <Title order={3}>Sign in to SynthralOS</Title>
              <Text c="dimmed" size="sm">
                Build, run and debug durable workflows.
              </Text>
            </div>
            <TextInput label="Email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} autoComplete="username" required autoFocus />
            <PasswordInput label="Password" value={password} onChange={(e) => setPassword(e.currentTarget.value)} autoComplete="current-password" required />
            {needsCode && (
              <Stack gap={4}>
                <Text size="sm" fw={500}>
                  Code from your authenticator app
                </Text>
                <PinInput length={6} type="number" value={code} onChange={setCode} oneTimeCode autoFocus aria-label="two-factor code" />
              </Stack>
            )}
            <ProblemAlert error={error} title="Could not sign in" />
            <Button type="submit" loading={busy}>
              {needsCode ? 'Verify and sign in' : 'Sign in'}
            </Button>
            {methods.data?.oidc && (
              <>
                <Divider label="or" />
                <Button component="a" href="/api/v1/auth/oidc/login" variant="default">
                  Sign in with single sign-on
                </Button>
              </>
            )}
            <Text size="xs" c="dimmed">
              No account? An owner creates one with <Anchor component="span" className="mono">synthral user create</Anchor>.
            </Text>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}

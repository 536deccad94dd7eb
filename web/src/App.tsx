import { AppShell, Burger, Center, Group, Loader, NavLink, ScrollArea, Select, Text, Tooltip } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import {
  IconActivity,
  IconApps,
  IconKey,
  IconLogout,
  IconPlug,
  IconShieldCheck,
  IconSitemap,
  IconSparkles,
  IconUsers,
} from '@tabler/icons-react';
import { useQueryClient } from '@tanstack/react-query';
import { Suspense, lazy, useCallback, useMemo } from 'react';
import { Link, Redirect, Route, Switch, useLocation } from 'wouter';
import { ApiError, request, session } from './api/client';
import { useMe } from './api/hooks';
import { WhoContext, useSession, type Who } from './auth/context';
import { SignIn } from './auth/SignIn';
import { ErrorBoundary } from './ui/ErrorBoundary';
import { ProblemAlert } from './ui/Problem';
import { WorkflowList } from './workflows/WorkflowList';
import { ExecutionList } from './executions/ExecutionList';

// The builder and the execution view carry the canvas, forms and editors: loaded on demand.
const Builder = lazy(() => import('./builder/Builder'));
const ExecutionView = lazy(() => import('./executions/ExecutionView'));
const Triggers = lazy(() => import('./workflows/Triggers'));
const Plugins = lazy(() => import('./plugins/Plugins'));
const Connectors = lazy(() => import('./connectors/Connectors'));
const Credentials = lazy(() => import('./credentials/Credentials'));
const Settings = lazy(() => import('./settings/Settings'));
const Admin = lazy(() => import('./admin/Admin'));
const Copilot = lazy(() => import('./chat/CopilotPage'));

const NAV = [
  { href: '/workflows', label: 'Workflows', icon: IconSitemap },
  { href: '/executions', label: 'Executions', icon: IconActivity },
  { href: '/copilot', label: 'Copilot', icon: IconSparkles },
  { href: '/credentials', label: 'Credentials', icon: IconKey, role: 'editor' as const },
  { href: '/connectors', label: 'Connectors', icon: IconApps },
  { href: '/plugins', label: 'Plugins', icon: IconPlug },
  { href: '/settings', label: 'Members & keys', icon: IconUsers },
  { href: '/admin', label: 'Admin', icon: IconShieldCheck, role: 'owner' as const },
];

const RANK = { viewer: 1, editor: 2, owner: 3 };

function Loading() {
  return (
    <Center h="60vh">
      <Loader />
    </Center>
  );
}

export function App() {
  useSession();
  const me = useMe();
  const client = useQueryClient();
  const signedIn = useCallback(() => {
    void client.invalidateQueries();
    history.replaceState(null, '', '/workflows');
    window.dispatchEvent(new PopStateEvent('popstate'));
  }, [client]);

  const who: Who | null = useMemo(() => {
    if (!me.data || me.data.workspaces.length === 0) return null;
    const chosen = me.data.workspaces.find((w) => w.slug === session.workspace) ?? me.data.workspaces[0];
    return { me: me.data, workspace: chosen, role: chosen.role, local: me.data.method === 'local' };
  }, [me.data]);

  if (me.isPending) return <Loading />;
  if (me.error instanceof ApiError && me.error.status === 401) return <SignIn onSignedIn={signedIn} />;
  if (me.error) {
    return (
      <Center h="100%" p="xl">
        <ProblemAlert error={me.error} title="The server could not be reached" />
      </Center>
    );
  }
  if (!who) {
    return (
      <Center h="100%">
        <Text>You belong to no workspace yet; ask an owner to add you.</Text>
      </Center>
    );
  }
  if (session.workspace !== who.workspace.slug) session.workspace = who.workspace.slug;

  return (
    <WhoContext.Provider value={who}>
      <Shell who={who} />
    </WhoContext.Provider>
  );
}

function Shell({ who }: { who: Who }) {
  const [opened, { toggle }] = useDisclosure();
  const [location, navigate] = useLocation();
  const client = useQueryClient();
  const full = /^\/workflows\/[^/]+$/.test(location) || /^\/executions\/[^/]+$/.test(location);

  const switchWorkspace = (slug: string | null) => {
    if (!slug) return;
    session.setWorkspace(slug);
    client.clear();
    navigate('/workflows');
  };

  const signOut = async () => {
    const raw = sessionStorage.getItem('synthral.tokens');
    const refresh = raw ? (JSON.parse(raw) as { refresh_token: string }).refresh_token : null;
    if (refresh) await request('/auth/logout', { body: { refresh_token: refresh } }).catch(() => undefined);
    session.setTokens(null);
    client.clear();
    navigate('/sign-in');
  };

  return (
    <AppShell
      header={{ height: 52 }}
      navbar={{ width: full ? 64 : 220, breakpoint: 'sm', collapsed: { mobile: !opened } }}
      padding={full ? 0 : 'md'}
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="sm">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" />
            <img src="/favicon.svg" width={26} height={26} alt="" />
            <Text fw={700}>SynthralOS</Text>
          </Group>
          <Group gap="sm">
            {who.me.workspaces.length > 1 ? (
              <Select
                size="xs"
                aria-label="workspace"
                value={who.workspace.slug}
                data={who.me.workspaces.map((w) => ({ value: w.slug, label: `${w.name} (${w.role})` }))}
                onChange={switchWorkspace}
                allowDeselect={false}
              />
            ) : (
              <Text size="sm" c="dimmed">
                {who.workspace.name} · {who.role}
              </Text>
            )}
            <Text size="sm">{who.local ? 'local mode' : who.me.email}</Text>
            {!who.local && (
              <Tooltip label="Sign out">
                <IconLogout size={18} style={{ cursor: 'pointer' }} onClick={() => void signOut()} aria-label="sign out" />
              </Tooltip>
            )}
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p={full ? 4 : 'xs'}>
        <ScrollArea>
          {NAV.filter((item) => !item.role || RANK[who.role] >= RANK[item.role]).map((item) => (
            <Tooltip key={item.href} label={item.label} position="right" disabled={!full}>
              <NavLink
                component={Link}
                href={item.href}
                label={full ? undefined : item.label}
                leftSection={<item.icon size={18} />}
                active={location.startsWith(item.href)}
                aria-label={item.label}
              />
            </Tooltip>
          ))}
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main h="100dvh">
        <ErrorBoundary resetKey={location}>
        <Suspense fallback={<Loading />}>
          <Switch>
            <Route path="/">
              <Redirect to="/workflows" />
            </Route>
            <Route path="/sign-in">
              <Redirect to="/workflows" />
            </Route>
            <Route path="/workflows" component={WorkflowList} />
            <Route path="/workflows/:id/triggers">{(params) => <Triggers id={params.id} />}</Route>
            <Route path="/workflows/:id">{(params) => <Builder key={params.id} id={params.id === 'new' ? undefined : params.id} />}</Route>
            <Route path="/executions" component={ExecutionList} />
            <Route path="/executions/:id">{(params) => <ExecutionView key={params.id} id={params.id} />}</Route>
            <Route path="/credentials" component={Credentials} />
            <Route path="/connectors" component={Connectors} />
            <Route path="/plugins" component={Plugins} />
            <Route path="/settings" component={Settings} />
            <Route path="/admin" component={Admin} />
            <Route path="/copilot" component={Copilot} />
            <Route>
              <Text p="xl">This page does not exist.</Text>
            </Route>
          </Switch>
        </Suspense>
        </ErrorBoundary>
      </AppShell.Main>
    </AppShell>
  );
}

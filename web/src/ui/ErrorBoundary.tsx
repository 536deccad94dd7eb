import { Alert, Button, Code, Stack, Text } from '@mantine/core';
import { Component, type ReactNode } from 'react';

interface State {
  error: Error | null;
}

/** A screen that fails to render says so, with a way back, instead of leaving a blank page. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: string }, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  componentDidUpdate(previous: { resetKey?: string }) {
    if (previous.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <Stack p="md" maw={720}>
        <Alert color="red" title="This screen failed to show" data-testid="screen-error">
          <Text size="sm">Something in this screen went wrong in the browser. Other screens still work; reloading usually helps.</Text>
          <Code block mt="xs">
            {this.state.error.message}
          </Code>
        </Alert>
        <Button variant="default" w={160} onClick={() => location.reload()}>
          Reload
        </Button>
      </Stack>
    );
  }
}

import { createContext, useContext } from 'react';
import type { NodeType } from '../api/types';

/** The palette's node types by type name, for every canvas node and panel. */
export const SpecsContext = createContext<Map<string, NodeType>>(new Map());
export const useSpecs = () => useContext(SpecsContext);
